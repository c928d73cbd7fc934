# bash completion for virtkernel: commands, options and domain names.
# Install:  virtkernel completion bash > ~/.local/share/bash-completion/completions/virtkernel
#      or:  source <(virtkernel completion bash)
# The candidates come from `virtkernel complete -- WORDS...`; when it offers nothing, bash completes file names.

_virtkernel_complete()
{
    local cur words cword
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        # keep URIs such as test:///default and --opt=value in one word
        _get_comp_words_by_ref -n =: cur words cword
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local IFS=$'\n'
    local candidates
    candidates=$("${words[0]}" complete -- "${words[@]:1:cword}" 2>/dev/null) || return 0
    COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
    if declare -F __ltrim_colon_completions >/dev/null 2>&1; then
        __ltrim_colon_completions "$cur"
    fi
    return 0
}

complete -o default -F _virtkernel_complete virtkernel
