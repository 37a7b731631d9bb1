package retryhttp

import (
	"net/url"
	"strings"

	"github.com/retrysql/retrysql"
)

// RetrierOf returns the Retrier the Transport keeps for the host of
// rawURL, or nil if it keeps none.
func RetrierOf(t *Transport, rawURL string) *retrysql.Retrier {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if h := t.hosts[hostKey{strings.ToLower(u.Scheme), strings.ToLower(u.Host)}]; h != nil {
		return h.r
	}
	return nil
}

// Sweeping reports whether the Transport's sweep timer is armed.
func Sweeping(t *Transport) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.sweeper != nil
}
