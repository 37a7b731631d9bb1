package retrysql

// SetReplaceInPlace switches the replacement in place of lost fresh
// connections (statement.go) and returns the function that restores it:
// for the benchmark that compares it with database/sql's own tries.
func SetReplaceInPlace(on bool) (restore func()) {
	old := replaceInPlace
	replaceInPlace = on
	return func() { replaceInPlace = old }
}
