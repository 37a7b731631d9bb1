package retrysql

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/budget"
)

// An Option configures a database handle (Register, NewConnector, Open), a
// Retrier (NewRetrier), one Do or DoValue call, or one RunInTx or
// RunInTxValue call. Each option declares where it is valid (the table in
// the package documentation); given anywhere else, it is refused with an
// error that says where it belongs.
type Option interface {
	apply(*config) error
}

// scope is a set of places where options are given.
type scope uint8

const (
	scopeHandle  scope = 1 << iota // Register, NewConnector, Open
	scopeRetrier                   // NewRetrier
	scopeDo                        // one Do or DoValue
	scopeTx                        // one RunInTx or RunInTxValue

	everywhere = scopeHandle | scopeRetrier | scopeDo | scopeTx
	shared     = scopeHandle | scopeRetrier // what a Retrier owns: one per handle
)

var scopeNames = [...]string{"a database handle", "a Retrier", "one Do call", "one RunInTx call"}

// String lists the places of s, as in "a database handle or a Retrier".
func (s scope) String() string {
	var names []string
	for i, n := range scopeNames {
		if s&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// optionKind describes one option function: its name, where it is valid,
// and whether it configures a Retrier (which WithRetrier, sharing one,
// excludes on a handle).
type optionKind struct {
	name      string
	scopes    scope
	ofRetrier bool
}

// option is an Option of some kind.
type option struct {
	kind    *optionKind
	set     func(*config) error
	retrier *Retrier // WithRetrier's
}

// with makes an option of kind k.
func (k *optionKind) with(set func(*config) error) Option { return &option{kind: k, set: set} }

// apply checks, in the one place where options are checked, that o may be
// given where cfg is being built, then applies it.
func (o *option) apply(cfg *config) error {
	if o.kind.scopes&cfg.scope == 0 {
		return fmt.Errorf("retrysql: %s is an option of %s; it cannot be given to %s", o.kind.name, o.kind.scopes, cfg.scope)
	}
	if o.kind.ofRetrier {
		cfg.retrierOptions++
	}
	return o.set(cfg)
}

// config is what options build.
type config struct {
	scope scope
	policy
	budget   Budget
	breaker  Breaker
	admit    *admission.Controller
	admitSet bool // WithAdmission was given

	// Handle options.
	retrier         *Retrier
	retrierOptions  int // options that configure a Retrier
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

// newConfig returns the configuration of a new Retrier or handle: the
// default policy, a fresh budget and a fresh breaker.
func newConfig(sc scope) config {
	b, err := budget.NewRatio(budget.DefaultRatio, budget.DefaultFloor, budget.DefaultWindow)
	if err != nil {
		panic(err) // the defaults are constants, checked by the tests
	}
	br, err := NewCircuitBreaker(BreakerSettings{})
	if err != nil {
		panic(err)
	}
	return config{scope: sc, budget: b, breaker: br}
}

// DefaultAdmission returns the settings of the admission controller that
// each retrysql handle has unless WithAdmission says otherwise: only what
// contends waits (AdmitHotOnly), each handle on its own (no Fleet: a
// default makes no tables in a user's database). Transactions whose rows
// do not contend run as they would without admission; those that aborted,
// and those whose first statement picks rows that recent attempts
// contended on, take turns under an adaptive limit. A Retrier made by
// NewRetrier, and the one that serves RunInTx on handles that are not
// retrysql's (SharedRetrier), have none: one of them may serve several
// databases, and a controller is one contention domain.
func DefaultAdmission() admission.Settings {
	return admission.Settings{AdmitHotOnly: true}
}

// newDefaultAdmission returns a controller with DefaultAdmission's
// settings.
func newDefaultAdmission() *admission.Controller {
	ctl, err := admission.New(DefaultAdmission())
	if err != nil {
		panic(err) // constant settings, checked by the tests
	}
	return ctl
}

// build makes a Retrier of the configuration.
func (c *config) build() *Retrier {
	if b, ok := c.breaker.(*CircuitBreaker); ok && c.obs.log != nil {
		logBreaker(b, c.obs.log)
	}
	return &Retrier{policy: c.policy, budget: c.budget, breaker: c.breaker, admit: c.admit}
}

// callPolicy returns r's policy, or a copy changed by the options of one
// call at sc.
func callPolicy(r *Retrier, sc scope, opts []Option) (*policy, *config, error) {
	if len(opts) == 0 {
		return &r.policy, nil, nil
	}
	cfg := &config{scope: sc, policy: r.policy}
	if err := cfg.apply(opts); err != nil {
		return nil, nil, err
	}
	return &cfg.policy, cfg, nil
}

// chosenRetrier returns the Retrier WithRetrier chooses among opts, or nil.
func chosenRetrier(opts []Option) *Retrier {
	var r *Retrier
	for _, o := range opts {
		if o, ok := o.(*option); ok && o.retrier != nil {
			r = o.retrier
		}
	}
	return r
}

// isNil reports whether v, an interface value, holds a nil pointer (a
// typed nil): WithBudget and WithBreaker take one for nil, as documented,
// rather than call its methods.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Interface, reflect.Slice:
		return r.IsNil()
	}
	return false
}
