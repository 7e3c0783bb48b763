#compdef cfevents

_cfevents_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _CFEVENTS_COMPLETE=complete_zsh cfevents)
}

compdef _cfevents_completion cfevents