package retrysql

import (
	"strings"
	"unicode"
)

// ReadOnlyQuery reports, conservatively, whether a query only reads: it
// starts with SELECT, SHOW, EXPLAIN, VALUES, TABLE, DESCRIBE, DESC or WITH
// (after spaces, comments and parentheses), and mentions nothing that
// writes or locks (INSERT, UPDATE, DELETE, MERGE, INTO, FOR UPDATE, FOR
// SHARE, LOCK, NEXTVAL, SETVAL, ANALYZE, PostgreSQL's advisory locks,
// GET_LOCK, RELEASE_LOCK), and holds one statement only (no semicolon but
// at its end). It is meant for WithIdempotentQueries; it cannot see what
// a called function does.
func ReadOnlyQuery(query string) bool {
	q := strings.ToUpper(stripLeading(query))
	if strings.Contains(strings.TrimRight(q, "; \t\r\n"), ";") || strings.Contains(q, "ADVISORY") {
		// Another statement may follow (SELECT 1; DROP TABLE t), and
		// PostgreSQL's advisory lock functions are many
		// (pg_try_advisory_lock, pg_advisory_lock_shared, ...).
		return false
	}
	first := q
	if i := strings.IndexFunc(q, func(r rune) bool { return !unicode.IsLetter(r) }); i >= 0 {
		first = q[:i]
	}
	switch first {
	case "SELECT", "SHOW", "EXPLAIN", "VALUES", "TABLE", "DESCRIBE", "DESC", "WITH":
	default:
		return false
	}
	for _, w := range writingWords {
		if containsWord(q, w) {
			return false
		}
	}
	return true
}

var writingWords = []string{
	"INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "SHARE", "LOCK", "NEXTVAL", "SETVAL",
	"ANALYZE", "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS", "CALL",
}

// containsWord reports whether w appears in s as a whole word.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(s[j-1])
		after := j+len(w) == len(s) || !isWordByte(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}

// stripLeading drops spaces, comments and opening parentheses before the
// first keyword.
func stripLeading(q string) string {
	for {
		q = strings.TrimLeftFunc(q, func(r rune) bool { return unicode.IsSpace(r) || r == '(' })
		switch {
		case strings.HasPrefix(q, "--"), strings.HasPrefix(q, "#"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return ""
			}
			q = q[i+1:]
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 {
				return ""
			}
			q = q[i+2:]
		default:
			return q
		}
	}
}
