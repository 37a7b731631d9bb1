package retrysql

import (
	"context"
	"errors"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// Markers are what an operation (Do's op, RunInTx's fn) says of its own
// errors. A marker wraps the error: its message is the error's, and
// errors.Is and errors.As reach the error and whatever it wraps. A marker
// decides before the classifier (classify.Default, rules of your own,
// any WithClassifier): the loop takes the first marker that gives a
// class, in the order errors.As visits the error's tree, so the
// outermost marker wins, and a marker under %w or errors.Join still
// counts. Markers of a nil error are nil.
//
// A marked error keeps every other rule of the loop: the attempt limit,
// the budget, the breaker, the deadline, and for a lost connection the
// ambiguity rule (Classified with classify.ConnLost).

// marker is the error type of every marker.
type marker struct {
	err     error
	res     classify.Result
	classed bool          // res is the error's class
	hinted  bool          // RetryAfter's
	hint    time.Duration // > 0: the server's wait
}

func (m *marker) Error() string { return m.err.Error() }
func (m *marker) Unwrap() error { return m.err }

// Permanent marks err as one that retrying cannot cure: it is returned at
// once (as it is, when it failed the first attempt), whatever the
// classifier would say of it.
func Permanent(err error) error {
	return Classified(err, classify.Result{Class: classify.Permanent})
}

// Retryable marks err as transient: the server (or whatever the operation
// called) refused the work and nothing of it persists, so it is retried
// with the transient strategy, under the attempt limit and the budget.
// Classified gives another class.
func Retryable(err error) error {
	return Classified(err, classify.Result{Class: classify.Transient})
}

// Classified marks err as res says, instead of what the classifier would
// say: its class (a Class outside the known ones counts as Permanent),
// its code (which chooses WithCodeStrategy's strategy and names the
// error in Stats.RetriesByCode), and its facts. A classify.ConnLost
// error is retried only if res.Unsent or the work is idempotent
// (otherwise ErrAmbiguous); one that says Unavailable counts as a
// failure for the circuit breaker.
func Classified(err error, res classify.Result) error {
	if err == nil {
		return nil
	}
	if res.Class >= classify.NumClasses {
		res.Class = classify.Permanent
	}
	return &marker{err: err, res: res, classed: true}
}

// RetryAfter marks err as a refusal from a server that asked to be tried
// again after d: retried as transient (unless a marker it wraps, or one
// wrapping it, gives another class) after at least d, or what the
// strategy says if longer (a strategy that implements strategy.Hinter
// decides itself, up to the longer of the maximum below and its own
// delay). The hint is honoured within bounds: a hint longer than
// the maximum (WithMaxRetryAfter, DefaultMaxRetryAfter by default) or a
// wait that would end after the context's deadline or WithMaxElapsed ends
// retrying at once with err, and the retry still needs the budget's
// credit and the breaker's leave. d ≤ 0 is no hint.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &marker{err: err, hinted: true, hint: max(d, 0)}
}

// DefaultMaxRetryAfter is the longest hint (RetryAfter, an HTTP
// Retry-After) the loop waits for unless WithMaxRetryAfter says
// otherwise. A server that asks for more is not retried: the caller gets
// its answer at once.
const DefaultMaxRetryAfter = 30 * time.Second

// marks is what the markers in an error's tree say.
type marks struct {
	res             classify.Result
	classed, hinted bool
	hint            time.Duration
}

// walk finds, in the order errors.As visits err's tree, the first marker
// that gives a class, and the first hint that is a wait (a RetryAfter of
// 0 marks the error hinted but does not hide a longer one inside it); it
// reports whether it found both (and so can stop). It allocates nothing.
func (m *marks) walk(err error) bool {
	for err != nil {
		if mk, ok := err.(*marker); ok {
			if mk.classed && !m.classed {
				m.res, m.classed = mk.res, true
			}
			if mk.hinted && m.hint == 0 {
				m.hint, m.hinted = mk.hint, true
			}
			if m.classed && m.hint > 0 {
				return true
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if m.walk(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// judge classifies the error of a failed attempt: a marker decides first;
// then the classifier; then, at an operation's own site (outer: Do's op,
// RunInTx's fn), WithRetryIf may make a permanent error transient. It
// returns the hint of a RetryAfter, and whether a marker decided.
func (p *policy) judge(err error, outer bool) (res classify.Result, hint time.Duration, marked bool) {
	var m marks
	m.walk(err)
	switch {
	case m.classed:
		return m.res, m.hint, true
	case m.hinted:
		return classify.Result{Class: classify.Transient}, m.hint, true
	}
	if p.classifier == nil {
		res = classify.Default.Classify(err)
	} else {
		res = p.classifier.Classify(err)
	}
	if outer && p.retryIf != nil && res.Class == classify.Permanent && !contextError(err) && p.retryIf(err) {
		res = classify.Result{Class: classify.Transient, Code: res.Code}
	}
	return res, 0, false
}

// contextError reports whether err is a context's end.
func contextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
