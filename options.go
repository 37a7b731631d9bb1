package retrysql

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/budget"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// DefaultMaxAttempts is the number of attempts, the first included, made
// unless WithMaxAttempts says otherwise, after any error but a tx-aborted
// one.
const DefaultMaxAttempts = 10

// DefaultTxAbortedAttempts is the number of attempts made after tx-aborted
// errors (deadlocks, serialization failures) unless WithMaxAttempts or
// WithClassAttempts says otherwise. Under contention many transactions need
// several tries and each try is quick; the contention benchmark
// (BENCHMARKS.md) gives up transfers at 10 and none at 50, the limit
// cockroach-go uses too. Time is bounded by the context and WithMaxElapsed.
const DefaultTxAbortedAttempts = 50

// The default strategies, by the class of the error and for connecting:
//
//	tx-aborted (deadlock, serialization failure)  decorrelated jitter, 2ms to 200ms
//	transient (lock timeout, too many connections) equal jitter, 20ms doubling to 2s
//	conn-lost, and connecting                      equal jitter, 100ms doubling to 5s
//
// The tx-aborted default comes from the contention benchmark
// (BENCHMARKS.md): of fixed, exponential, full, equal and decorrelated
// jitter, decorrelated jitter was the only one to keep the 99th percentile
// within 1.5 times immediate retry's in every cell, with goodput 1.3 to 2.4
// times immediate retry's wherever contention is high. A lock or a
// connection limit takes longer to clear; a server that went away needs
// seconds.
var (
	defaultTxAborted = strategy.Decorrelated{Initial: 2 * time.Millisecond, Max: 200 * time.Millisecond}
	defaultTransient = strategy.EqualJitter{Initial: 20 * time.Millisecond, Max: 2 * time.Second, Base: 2}
	defaultConnLost  = strategy.EqualJitter{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Base: 2}
)

// An Option configures a Retrier (and, through it, a database handle). Some
// options can also be given for a single call, to Do, DoValue or RunInTx:
// WithClassifier, WithStrategy, WithCodeStrategy, WithConnectStrategy,
// WithMaxAttempts, WithMaxElapsed and WithIdempotent. The others (budget,
// breaker, hooks) belong to the handle; given for a call they make it fail
// with an error saying so.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// policy is what decides, for one operation, whether and when to retry. It
// is immutable once built, so a Retrier's policy is shared by every call
// made without options.
type policy struct {
	classifier classify.Classifier
	// unbudgeted holds the classes whose retries the budget does not
	// charge; nil means the default (tx-aborted only), set means exactly
	// those (see WithBudgetClasses).
	unbudgeted  *[classify.NumClasses]bool
	byClass     [classify.NumClasses]strategy.Strategy
	connect     strategy.Strategy
	byCode      map[string]strategy.Strategy
	maxAttempts int
	// classAttempts overrides maxAttempts by the class of the last error.
	classAttempts [classify.NumClasses]int
	maxElapsed    time.Duration
	idempotent    bool
}

type config struct {
	policy
	call     bool // options for one call: only the policy may change
	handle   bool // options for a database handle: the driver-level options are allowed
	tx       bool // options for one RunInTx: WithRetrier is allowed too
	budget   Budget
	breaker  Breaker
	onRetry  func(Event)
	onGiveUp func(Event)
	admit    *admission.Controller
	admitSet bool // WithAdmission was given

	// Driver-level options.
	retrier         *Retrier
	retrierOptions  int // options that configure a Retrier, which WithRetrier excludes
	idempotentQuery func(query string) bool
}

// apply applies opts in order.
func (c *config) apply(opts []Option) error {
	for _, o := range opts {
		if o == nil {
			return errors.New("retrysql: nil option")
		}
		if err := o.apply(c); err != nil {
			return err
		}
	}
	return nil
}

// build makes a Retrier of the configuration.
func (c *config) build() *Retrier {
	return &Retrier{policy: c.policy, budget: c.budget, breaker: c.breaker, onRetry: c.onRetry, onGiveUp: c.onGiveUp, admit: c.admit}
}

// retrierOption wraps an option that configures a Retrier, so that it can
// be told apart from WithRetrier.
func retrierOption(f func(*config) error) Option {
	return optionFunc(func(c *config) error {
		c.retrierOptions++
		return f(c)
	})
}

// handleOption wraps an option that only a database handle takes.
func handleOption(name string, f func(*config) error) Option {
	return optionFunc(func(c *config) error {
		if !c.handle {
			return fmt.Errorf("retrysql: %s configures a database handle (Register, NewConnector, Open), not a Retrier or a call", name)
		}
		return f(c)
	})
}

// WithRetrier makes the handle use r, with its policy, budget, breaker,
// hooks and counters, instead of a Retrier of its own; several handles (or
// the work around them, through Do) can so share one budget. It cannot be
// combined with options that configure a Retrier. Given to RunInTx, it
// chooses the Retrier of that call (and the per-call options then change
// its policy for the call).
func WithRetrier(r *Retrier) Option {
	return optionFunc(func(c *config) error {
		if !c.handle && !c.tx {
			return errors.New("retrysql: WithRetrier configures a database handle or a RunInTx call, not a Retrier or a Do call")
		}
		if r == nil {
			return errors.New("retrysql: WithRetrier(nil)")
		}
		c.retrier = r
		return nil
	})
}

// WithIdempotentQueries declares the queries (QueryContext, and prepared
// statements queried) for which isIdempotent reports true idempotent: a
// connection lost after such a query was sent is retried instead of
// returned as ErrAmbiguous. ReadOnlyQuery is a conservative choice; opt in
// only if reads have no side effects in your schema (functions, triggers,
// sequences).
func WithIdempotentQueries(isIdempotent func(query string) bool) Option {
	return handleOption("WithIdempotentQueries", func(c *config) error {
		if isIdempotent == nil {
			return errors.New("retrysql: WithIdempotentQueries(nil)")
		}
		c.idempotentQuery = isIdempotent
		return nil
	})
}

// handleOnly fails when a handle-level option is given for one call.
func (c *config) handleOnly(name string) error {
	if c.call {
		return fmt.Errorf("retrysql: %s configures a Retrier or a database handle, not a single call", name)
	}
	return nil
}

func checkStrategy(s strategy.Strategy) error {
	if s == nil {
		return errors.New("retrysql: nil strategy")
	}
	if v, ok := s.(strategy.Validator); ok {
		return v.Validate()
	}
	return nil
}

// WithClassifier sets how errors are classified; the default is
// classify.Default.
func WithClassifier(c classify.Classifier) Option {
	return retrierOption(func(cfg *config) error {
		if c == nil {
			return errors.New("retrysql: nil classifier")
		}
		cfg.classifier = c
		return nil
	})
}

// WithStrategy sets the backoff strategy for errors of class (Transient,
// TxAborted or ConnLost; Permanent errors are never retried).
func WithStrategy(class classify.Class, s strategy.Strategy) Option {
	return retrierOption(func(cfg *config) error {
		if class == classify.Permanent || class >= classify.NumClasses {
			return fmt.Errorf("retrysql: no strategy can be set for class %v", class)
		}
		if err := checkStrategy(s); err != nil {
			return err
		}
		cfg.byClass[class] = s
		return nil
	})
}

// WithCodeStrategy sets the backoff strategy for errors carrying a vendor
// code (a SQLSTATE such as "40P01", a MySQL error number such as "1213").
// It takes precedence over the class's strategy and the connect strategy;
// it does not make an error retryable that its class does not allow.
func WithCodeStrategy(code string, s strategy.Strategy) Option {
	return retrierOption(func(cfg *config) error {
		if code == "" {
			return errors.New("retrysql: empty error code")
		}
		if err := checkStrategy(s); err != nil {
			return err
		}
		// Copy on write: the map may be shared with the Retrier.
		m := maps.Clone(cfg.byCode)
		if m == nil {
			m = make(map[string]strategy.Strategy)
		}
		m[code] = s
		cfg.byCode = m
		return nil
	})
}

// WithConnectStrategy sets the backoff strategy for opening connections.
func WithConnectStrategy(s strategy.Strategy) Option {
	return retrierOption(func(cfg *config) error {
		if err := checkStrategy(s); err != nil {
			return err
		}
		cfg.connect = s
		return nil
	})
}

// WithMaxAttempts sets the maximum number of attempts, the first included,
// whatever the error's class (WithClassAttempts refines it by class); n
// must be at least 1 (1 disables retries). The default is
// DefaultMaxAttempts, and DefaultTxAbortedAttempts after tx-aborted errors.
func WithMaxAttempts(n int) Option {
	return retrierOption(func(cfg *config) error {
		if n < 1 {
			return fmt.Errorf("retrysql: max attempts %d is below 1", n)
		}
		cfg.maxAttempts = n
		return nil
	})
}

// WithClassAttempts sets the maximum number of attempts, the first
// included, when the last error is of class; it overrides WithMaxAttempts
// for that class. n must be at least 1.
func WithClassAttempts(class classify.Class, n int) Option {
	return retrierOption(func(cfg *config) error {
		if class >= classify.NumClasses {
			return fmt.Errorf("retrysql: unknown class %v", class)
		}
		if n < 1 {
			return fmt.Errorf("retrysql: max attempts %d is below 1", n)
		}
		cfg.classAttempts[class] = n
		return nil
	})
}

// WithMaxElapsed sets the longest time an operation may take, attempts and
// waits included: a retry whose wait would end later is not made. 0 (the
// default) sets no limit beyond the context's.
func WithMaxElapsed(d time.Duration) Option {
	return retrierOption(func(cfg *config) error {
		if d < 0 {
			return fmt.Errorf("retrysql: max elapsed time %v is negative", d)
		}
		cfg.maxElapsed = d
		return nil
	})
}

// WithIdempotent declares that running the work twice is harmless, so that
// a connection lost after the request may have reached the server is
// retried instead of returned as ErrAmbiguous. See also Idempotent, which
// declares it for the calls made with one context.
func WithIdempotent() Option {
	return retrierOption(func(cfg *config) error {
		cfg.idempotent = true
		return nil
	})
}

// WithBudget sets the retry budget; nil disables budgeting. The default is a
// new budget.Ratio with Finagle's parameters for every Retrier. A budget
// given to several Retriers is shared by them.
func WithBudget(b Budget) Option {
	return retrierOption(func(cfg *config) error {
		if err := cfg.handleOnly("WithBudget"); err != nil {
			return err
		}
		cfg.budget = b
		return nil
	})
}

// WithBreaker sets the circuit breaker; nil disables it. The default is a
// new CircuitBreaker with default settings for every Retrier.
func WithBreaker(b Breaker) Option {
	return retrierOption(func(cfg *config) error {
		if err := cfg.handleOnly("WithBreaker"); err != nil {
			return err
		}
		cfg.breaker = b
		return nil
	})
}

// WithOnRetry sets a function called before every retry, with the failed
// attempt and the delay about to be waited. It runs on the retrying
// goroutine, from many goroutines at once: it must be safe for concurrent
// use and quick.
func WithOnRetry(f func(Event)) Option {
	return retrierOption(func(cfg *config) error {
		if err := cfg.handleOnly("WithOnRetry"); err != nil {
			return err
		}
		cfg.onRetry = f
		return nil
	})
}

// WithOnGiveUp sets a function called when retrying stops with a retryable
// error (see Stats.GiveUps), with the last attempt and the reason. Same
// rules as WithOnRetry.
func WithOnGiveUp(f func(Event)) Option {
	return retrierOption(func(cfg *config) error {
		if err := cfg.handleOnly("WithOnGiveUp"); err != nil {
			return err
		}
		cfg.onGiveUp = f
		return nil
	})
}

// WithAdmission puts RunInTx under the admission control of ctl (see
// package admission): every attempt of a transaction run by RunInTx with
// this Retrier (or on this handle) holds one of ctl's permits from BEGIN to
// COMMIT or ROLLBACK, waiting for it oldest transaction first; a contention
// error (deadlock, serialization failure, lock not available, lock wait
// timeout) is retried without a delay and without drawing from the budget,
// since the permits pace the retries, and a transaction aborted
// ctl.EscalateAfter() times runs its next attempts alone. Other errors keep
// their strategies and the budget. Statements outside RunInTx are not
// admitted. nil switches admission off.
//
// One Controller is one contention domain: give each database its own,
// and share one between handles only when they reach the same rows.
// RunInTx bounds the limit by the pool's size (SetMaxOpenConns). A RunInTx
// inside another's fn that would wait for the same Controller runs
// unadmitted instead, so that nesting cannot deadlock.
//
// Given to one RunInTx, it chooses the controller of that call:
// WithAdmission(nil) lets a long transaction (a batch, a migration) run
// without holding a permit that short ones would queue behind.
func WithAdmission(ctl *admission.Controller) Option {
	return retrierOption(func(cfg *config) error {
		if cfg.call && !cfg.tx {
			return errors.New("retrysql: WithAdmission configures a Retrier, a database handle or one RunInTx, not a Do call")
		}
		cfg.admit, cfg.admitSet = ctl, true
		return nil
	})
}

// WithBudgetClasses sets the classes whose retries draw from the budget.
// The default is transient and conn-lost: a lost connection or an
// overloaded server is what a retry storm makes worse, while a deadlock or
// a serialization failure is contention between healthy transactions, which
// backoff and the attempt limit bound (and which would exhaust a 20%
// budget on any busy table: under contention most transactions need a
// retry).
func WithBudgetClasses(classes ...classify.Class) Option {
	return retrierOption(func(cfg *config) error {
		var un [classify.NumClasses]bool
		for i := range un {
			un[i] = true
		}
		for _, c := range classes {
			if c >= classify.NumClasses {
				return fmt.Errorf("retrysql: unknown class %v", c)
			}
			un[c] = false
		}
		cfg.unbudgeted = &un
		return nil
	})
}

// budgeted reports whether retries of class draw from the budget.
func (p *policy) budgeted(class classify.Class) bool {
	if p.unbudgeted == nil {
		return class != classify.TxAborted
	}
	return !p.unbudgeted[class%classify.NumClasses]
}

// defaultConfig returns the configuration of a new Retrier: the default
// policy, a fresh budget and a fresh breaker.
func defaultConfig() config {
	b, err := budget.NewRatio(budget.DefaultRatio, budget.DefaultFloor, budget.DefaultWindow)
	if err != nil {
		panic(err) // the defaults are constants, checked by the tests
	}
	br, err := NewCircuitBreaker(BreakerSettings{})
	if err != nil {
		panic(err)
	}
	return config{budget: b, breaker: br}
}

// The policy's zero fields mean "default", so that a zero Retrier works.

func (p *policy) classify(err error) classify.Result {
	if p.classifier == nil {
		return classify.Default.Classify(err)
	}
	return p.classifier.Classify(err)
}

func (p *policy) attempts(class classify.Class) int {
	if n := p.classAttempts[class%classify.NumClasses]; n > 0 {
		return n
	}
	if p.maxAttempts > 0 {
		return p.maxAttempts
	}
	if class == classify.TxAborted {
		return DefaultTxAbortedAttempts
	}
	return DefaultMaxAttempts
}

// strategy picks the strategy for a retry after res at place: by code, then
// for connecting, then by class.
func (p *policy) strategy(res classify.Result, place Place) strategy.Strategy {
	if res.Code != "" && p.byCode != nil {
		if s, ok := p.byCode[res.Code]; ok {
			return s
		}
	}
	if place == PlaceConnect {
		if p.connect != nil {
			return p.connect
		}
		return defaultConnLost
	}
	if s := p.byClass[res.Class%classify.NumClasses]; s != nil {
		return s
	}
	switch res.Class {
	case classify.TxAborted:
		return defaultTxAborted
	case classify.Transient:
		return defaultTransient
	}
	return defaultConnLost
}
