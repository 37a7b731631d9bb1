package retrysql

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// The options, with where each is valid. optionKinds lists them all, for
// the table of the package documentation (a test keeps it current).
var (
	kindClassifier        = optionKind{"WithClassifier", everywhere, true}
	kindStrategy          = optionKind{"WithStrategy", everywhere, true}
	kindCodeStrategy      = optionKind{"WithCodeStrategy", everywhere, true}
	kindConnectStrategy   = optionKind{"WithConnectStrategy", everywhere, true}
	kindMaxAttempts       = optionKind{"WithMaxAttempts", everywhere, true}
	kindClassAttempts     = optionKind{"WithClassAttempts", everywhere, true}
	kindMaxElapsed        = optionKind{"WithMaxElapsed", everywhere, true}
	kindIdempotent        = optionKind{"WithIdempotent", everywhere, true}
	kindBudget            = optionKind{"WithBudget", shared, true}
	kindBudgetClasses     = optionKind{"WithBudgetClasses", shared, true}
	kindBreaker           = optionKind{"WithBreaker", shared, true}
	kindOnRetry           = optionKind{"WithOnRetry", everywhere, true}
	kindOnGiveUp          = optionKind{"WithOnGiveUp", everywhere, true}
	kindOnComplete        = optionKind{"WithOnComplete", everywhere, true}
	kindLogger            = optionKind{"WithLogger", everywhere, true}
	kindAdmission         = optionKind{"WithAdmission", shared | scopeTx, true}
	kindRetrier           = optionKind{"WithRetrier", scopeHandle | scopeTx, false}
	kindIdempotentQueries = optionKind{"WithIdempotentQueries", scopeHandle, false}
	kindCommitCheck       = optionKind{"WithCommitCheck", shared | scopeTx, true}

	optionKinds = []*optionKind{
		&kindClassifier, &kindStrategy, &kindCodeStrategy, &kindConnectStrategy, &kindMaxAttempts,
		&kindClassAttempts, &kindMaxElapsed, &kindIdempotent, &kindBudget, &kindBudgetClasses,
		&kindBreaker, &kindOnRetry, &kindOnGiveUp, &kindOnComplete, &kindLogger, &kindAdmission,
		&kindRetrier, &kindIdempotentQueries, &kindCommitCheck,
		&kindRetryIf, &kindAttemptTimeout, &kindMaxRetryAfter,
	}
)

func checkStrategy(s strategy.Strategy) error {
	if s == nil {
		return errors.New("retrysql: nil strategy")
	}
	if v, ok := s.(strategy.Validator); ok {
		return v.Validate()
	}
	return nil
}

func checkClass(class classify.Class) error {
	switch {
	case class >= classify.NumClasses:
		return fmt.Errorf("retrysql: unknown class %v", class)
	case class == classify.Permanent:
		return errors.New("retrysql: permanent errors are never retried: no strategy or attempt limit applies to them")
	}
	return nil
}

// WithClassifier sets how errors are classified; the default is
// classify.Default.
func WithClassifier(c classify.Classifier) Option {
	return kindClassifier.with(func(cfg *config) error {
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
	return kindStrategy.with(func(cfg *config) error {
		if err := checkClass(class); err != nil {
			return err
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
	return kindCodeStrategy.with(func(cfg *config) error {
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

// WithConnectStrategy sets the backoff strategy for a retry after a failed
// connect: the connects of a handle, and those made inside the attempts of
// Do or RunInTx (whose loop retries them).
func WithConnectStrategy(s strategy.Strategy) Option {
	return kindConnectStrategy.with(func(cfg *config) error {
		if err := checkStrategy(s); err != nil {
			return err
		}
		cfg.connect = s
		return nil
	})
}

// WithMaxAttempts sets the maximum number of attempts, the first included,
// whatever the error's class (WithClassAttempts refines it by class); n
// must be at least 1 (1 disables retries: a failure is then returned as it
// is). The default is DefaultMaxAttempts, and DefaultTxAbortedAttempts
// after tx-aborted errors.
func WithMaxAttempts(n int) Option {
	return kindMaxAttempts.with(func(cfg *config) error {
		if n < 1 {
			return fmt.Errorf("retrysql: max attempts %d is below 1", n)
		}
		cfg.maxAttempts = n
		return nil
	})
}

// WithClassAttempts sets the maximum number of attempts, the first
// included, when the last error is of class (Transient, TxAborted or
// ConnLost); it overrides WithMaxAttempts for that class. n must be at
// least 1.
func WithClassAttempts(class classify.Class, n int) Option {
	return kindClassAttempts.with(func(cfg *config) error {
		if err := checkClass(class); err != nil {
			return err
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
	return kindMaxElapsed.with(func(cfg *config) error {
		if d < 0 {
			return fmt.Errorf("retrysql: max elapsed time %v is negative", d)
		}
		cfg.maxElapsed = d
		return nil
	})
}

// WithIdempotent declares that running the work twice is harmless, so that
// a connection lost after the request may have reached the server is
// retried instead of returned as ErrAmbiguous (or, for RunInTx, a lost
// COMMIT replayed instead of returned as ErrAmbiguousCommit). On a handle
// it declares every statement idempotent. See also Idempotent, which
// declares it for the calls made with one context.
func WithIdempotent() Option {
	return kindIdempotent.with(func(cfg *config) error {
		cfg.idempotent = true
		return nil
	})
}

// WithBudget sets the retry budget; nil disables budgeting. The default is a
// new budget.Ratio with Finagle's parameters for every Retrier. A budget
// given to several Retriers is shared by them.
func WithBudget(b Budget) Option {
	return kindBudget.with(func(cfg *config) error {
		cfg.budget = b
		if isNil(b) {
			cfg.budget = nil // a nil *budget.Ratio, say
		}
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
	return kindBudgetClasses.with(func(cfg *config) error {
		var un [classify.NumClasses]bool
		for i := range un {
			un[i] = true
		}
		for _, c := range classes {
			if err := checkClass(c); err != nil {
				return err
			}
			un[c] = false
		}
		cfg.unbudgeted = &un
		return nil
	})
}

// WithBreaker sets the circuit breaker; nil disables it. The default is a
// new CircuitBreaker with default settings for every Retrier.
func WithBreaker(b Breaker) Option {
	return kindBreaker.with(func(cfg *config) error {
		cfg.breaker = b
		if isNil(b) {
			cfg.breaker = nil // a nil *CircuitBreaker, say
		}
		return nil
	})
}

// WithAdmission puts RunInTx under the admission control of ctl (see
// package admission; the zero Controller has its default settings). Each
// attempt of a transaction run by RunInTx with this Retrier (or on this
// handle) that ctl admits holds one of ctl's permits until its COMMIT or
// ROLLBACK, waiting for it oldest transaction first: every attempt, or
// with Settings.AdmitHotOnly only those of transactions that aborted or
// whose first statement picks hot rows, waiting for it at that
// statement, before sending it, while the statements waiting so leave a
// connection of the pool to the attempts holding permits, and otherwise
// beginning again once it has one (the pool would deadlock); before
// BEGIN, when most first attempts of the same fn were hot. A contention
// error (deadlock, serialization failure, lock
// not available, lock wait timeout) of an attempt that held a permit is
// retried without a delay and without drawing from the budget, since the
// permits pace the retries; one that ran without a permit waits its
// strategy's delay first, then for a permit. A transaction aborted
// ctl.EscalateAfter() times runs its next attempts alone. Other errors
// keep their strategies and the budget. Statements outside RunInTx are not
// admitted. With Settings.Fleet, an admitted attempt may take the fleet
// gate in the database first (package admission; on PostgreSQL and
// MySQL/MariaDB through pgx and go-sql-driver/mysql, which creates the
// tables retrysql_gate_00 … _15, or retrysql_gate, the first time a
// process turns it on). nil switches admission off: contention errors
// then wait as their strategies say and draw from the budget.
//
// Each retrysql handle has a controller of its own by default, with
// DefaultAdmission's settings (only what contends waits); a Retrier made
// by NewRetrier has none.
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
	return kindAdmission.with(func(cfg *config) error {
		cfg.admit, cfg.admitSet = ctl, true
		return nil
	})
}

// WithRetrier makes the handle use r, with its policy, budget, breaker,
// hooks and counters, instead of a Retrier of its own; several handles (or
// the work around them, through Do) can so share one budget. On a handle
// it cannot be combined with options that configure a Retrier. Given to
// RunInTx, it chooses the Retrier of that call, whose policy the call's
// other options then change for the call.
func WithRetrier(r *Retrier) Option {
	o := kindRetrier.with(func(cfg *config) error {
		if r == nil {
			return errors.New("retrysql: WithRetrier(nil)")
		}
		cfg.retrier = r
		return nil
	})
	o.(*option).retrier = r
	return o
}

// WithIdempotentQueries declares the queries (QueryContext, and prepared
// statements queried) for which isIdempotent reports true idempotent: a
// connection lost after such a query was sent is retried instead of
// returned as ErrAmbiguous. ReadOnlyQuery is a conservative choice; opt in
// only if reads have no side effects in your schema (functions, triggers,
// sequences).
func WithIdempotentQueries(isIdempotent func(query string) bool) Option {
	return kindIdempotentQueries.with(func(cfg *config) error {
		if isIdempotent == nil {
			return errors.New("retrysql: WithIdempotentQueries(nil)")
		}
		cfg.idempotentQuery = isIdempotent
		return nil
	})
}

// WithCommitCheck makes RunInTx resolve a COMMIT whose answer was lost,
// on PostgreSQL (10+), MySQL (8+) and MariaDB (10.3+) handles (*sql.DB of
// the pgx or go-sql-driver/mysql driver, wrapped or not): before COMMIT
// the transaction leaves proof of itself (one more round trip), and when
// the connection is lost during COMMIT, RunInTx asks other connections of
// the handle until the evidence settles it. Found committed: RunInTx
// returns nil (and the attempt's value); found not committed: the
// transaction is replayed; anything else, or no answer before the context
// ends (at most 15 s): ErrAmbiguousCommit, as without the check. Nothing
// is reported committed that the server has not committed. On PostgreSQL
// a lost COMMIT stays unknown when the server crashed or failed over in
// between and the transaction's id says committed (recovery may have
// given the id again). On MySQL and MariaDB the proof is a row in the table
// retrysql_commit_markers, created on demand (the handle's user needs
// CREATE once, then INSERT, SELECT and DELETE on it) and cleaned of rows
// older than ten minutes. Stats.Resolved counts the answers. Read-only
// transactions are not checked (they are replayed); RunInTx on a *sql.Conn
// or a handle of another driver returns an error. Off by default; the
// README gives its cost.
func WithCommitCheck(on bool) Option {
	return kindCommitCheck.with(func(cfg *config) error {
		cfg.commitCheck = on
		return nil
	})
}
