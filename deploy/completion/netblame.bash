# bash completion for netblame, netblame-agent and the tool symlinks.
# Commands, tools and flags are read from the programs' own --help and --list-tools, so this
# file never lists them and cannot fall behind.
# shellcheck shell=bash

_netblame_flags() {
	"$@" --help 2>/dev/null | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u
}

_netblame_agent() {
	local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]} words
	case ${COMP_WORDS[COMP_CWORD - 1]} in
	--config | --secret-key | --authorized-keys)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	esac
	if [ "${prog##*/}" != netblame-agent ]; then
		words=$(_netblame_flags "$prog")
	elif [ "$COMP_CWORD" -eq 1 ]; then
		words="serve --help --list-tools $("$prog" --list-tools 2>/dev/null)"
	else
		words=$(_netblame_flags "$prog" "${COMP_WORDS[1]}")
	fi
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

_netblame() {
	local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]} words
	if [ "$COMP_CWORD" -eq 1 ]; then
		words="--help $("$prog" --help 2>/dev/null | awk '/^commands:/ { c = 1; next } c && NF { print $1 }')"
	elif [ "${COMP_WORDS[1]}" = trace ] && [ "$COMP_CWORD" -eq 2 ]; then
		words="icmp tcp udp"
	elif [ "${COMP_WORDS[1]}" = trace ]; then
		words=$(_netblame_flags "$prog" trace "${COMP_WORDS[2]}")
	else
		words=$(_netblame_flags "$prog" "${COMP_WORDS[1]}")
	fi
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

complete -F _netblame netblame
complete -F _netblame_agent netblame-agent
for _nb_tool in $(netblame-agent --list-tools 2>/dev/null); do
	complete -F _netblame_agent "$_nb_tool"
done
unset _nb_tool
