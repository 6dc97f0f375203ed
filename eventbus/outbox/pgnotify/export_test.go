package pgnotify

// Waiting reports whether a Wait (or Close) holds l's turn, so that a test
// can close l while a Wait is in progress.
func Waiting(l *Listener) bool { return len(l.turn) == 1 }
