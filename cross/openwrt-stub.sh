# shellcheck shell=sh
# Stand-ins for OpenWrt's procd and UCI shell helpers, for testing
# cross/smolproxy.openwrt off the router (cross/test-openwrt.sh,
# cross/test-ipk.sh). Sourced by sh. They print what procd would be told:
#   param NAME VALUE...        one procd_set_param (except the command)
#   param command ARG...       the whole command, at procd_close_instance
#   signal ...                 procd_send_signal
#   config_load NAME
# config_load reads $UCI_ROOT/etc/config/NAME (a missing file is an empty
# config) the way UCI does for what this script uses: `config TYPE 'NAME'`
# sections, `option KEY 'VALUE'` (the last wins), `list KEY 'VALUE'` (values
# joined by spaces), '#' comments.

procd_open_instance() { stub_cmd=""; }
procd_set_param() {
	if [ "$1" = command ]; then shift; stub_cmd="$*"; else echo "param $*"; fi
}
procd_append_param() {
	[ "$1" = command ] || { echo "append $*"; return; }
	shift
	stub_cmd="$stub_cmd $*"
}
procd_close_instance() { echo "param command $stub_cmd"; }
procd_send_signal() { echo "signal $*"; }

config_load() {
	echo "config_load $*"
	f=${UCI_ROOT:-}/etc/config/$1
	[ -f "$f" ] || return 0
	stub_vars=$(awk '
		function unq(s) { gsub(/^[\047"]|[\047"]$/, "", s); return s }
		{ sub(/^[ \t]+/, "") }
		/^#/ || NF == 0 { next }
		$1 == "config" { sec = unq($3); next }
		$1 == "option" || $1 == "list" {
			v = $0; sub(/^[^ \t]+[ \t]+[^ \t]+[ \t]*/, "", v); v = unq(v)
			var = "CONFIG_" sec "_" $2
			if ($1 == "list" && (var in val)) v = val[var] " " v
			val[var] = v
		}
		END { for (k in val) printf "%s=\047%s\047\n", k, val[k] }
	' "$f") || { echo "config_load: cannot read $f" >&2; return 1; }
	eval "$stub_vars"
}
config_get() {
	eval "stub_v=\${CONFIG_${2}_${3}:-}"
	[ -n "$stub_v" ] || stub_v=$4
	eval "$1=\$stub_v"
}
config_get_bool() {
	config_get stub_b "$2" "$3" "$4"
	case $stub_b in
		1|on|true|yes|enabled) stub_b=1 ;;
		0|off|false|no|disabled) stub_b=0 ;;
		*) stub_b=$4 ;;
	esac
	eval "$1=\$stub_b"
}
