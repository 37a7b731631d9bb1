package budget

import "time"

// Start returns the time a budget measures from, so that tests can place
// their times on window boundaries.
func (b *Ratio) Start() time.Time       { return b.start }
func (b *TokenBucket) Start() time.Time { return b.start }

// RequestAt records a first attempt at time now (see requestAt).
func (b *Ratio) RequestAt(now time.Time) { b.requestAt(now) }
