package classify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Rules is a Classifier made of rules, tried in this order:
//
//  1. the predicate rules added with WithRule, in the order given;
//  2. the caller's cancellation (context.Canceled, DeadlineExceeded):
//     Permanent;
//  3. the vendor code of a PostgreSQL-family error (a *pgconn.PgError, or
//     any error with a SQLState() string method) or a MySQL-family error (a
//     *mysql.MySQLError): first the codes set with WithCode, then the
//     built-in table (BuiltinRules);
//  4. the drivers' own signals: pgconn.SafeToRetry, pgconn.ErrConnClosed,
//     mysql.ErrInvalidConn, pgx.ErrTxCommitRollback;
//  5. network failures and driver.ErrBadConn, as described for Network;
//  6. anything else: Permanent, with the vendor code if there is one.
//
// A connection error of pgx (*pgconn.ConnectError) or a failed dial never
// ran a statement: the result says Connect, and a ConnLost one is always
// Unsent; one that no rule classifies is ConnLost (no host accepted a
// read-write session yet, say).
//
// A Rules is immutable once built and safe for concurrent use.
type Rules struct {
	pre   []predicate
	codes map[string]Result // WithCode overrides, by code
}

type predicate struct {
	name  string
	match func(error) (Result, bool)
}

// Option adds to or overrides the built-in rules of a classifier made by
// New.
type Option interface {
	apply(*Rules) error
}

type optionFunc func(*Rules) error

func (f optionFunc) apply(r *Rules) error { return f(r) }

// WithRule adds a predicate rule, tried before every built-in rule: when
// match reports true, its Result is the answer. Use it for errors of your
// own types or for a deployment's quirks.
func WithRule(name string, match func(err error) (Result, bool)) Option {
	return optionFunc(func(r *Rules) error {
		if match == nil {
			return fmt.Errorf("classify: rule %q has no match function", name)
		}
		r.pre = append(r.pre, predicate{name: name, match: match})
		return nil
	})
}

// WithCode sets the result for a vendor code (a SQLSTATE such as "23505", a
// MySQL error number such as "1062"), replacing the built-in rule for it.
// The Result's Code is set to code.
func WithCode(code string, res Result) Option {
	return optionFunc(func(r *Rules) error {
		if code == "" {
			return errors.New("classify: WithCode needs a code")
		}
		if res.Class >= NumClasses {
			return fmt.Errorf("classify: code %s: unknown class %v", code, res.Class)
		}
		res.Code = code
		if r.codes == nil {
			r.codes = make(map[string]Result)
		}
		r.codes[code] = res
		return nil
	})
}

// New returns a classifier with the built-in rules, changed by opts.
func New(opts ...Option) (*Rules, error) {
	r := &Rules{}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("classify: nil option")
		}
		if err := o.apply(r); err != nil {
			return nil, err
		}
	}
	r.pre = append([]predicate(nil), r.pre...)
	r.codes = maps.Clone(r.codes)
	return r, nil
}

// Classify implements Classifier.
func (r *Rules) Classify(err error) Result {
	if err == nil {
		return Result{}
	}
	for _, p := range r.pre {
		if res, ok := p.match(err); ok {
			return res
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Result{Class: Permanent}
	}
	res, known := r.vendor(err)
	if !known {
		if d, ok := drivers(err); ok {
			res, known = d, true
		} else if n, ok := Network(err); ok {
			res, known = n, true
		}
	}
	if _, ok := find[*pgconn.ConnectError](err); ok || isDial(err) {
		// A failed connect, whatever its cause (a refused host, 57P03 from
		// a server starting up, a join of per-host errors): nothing ran.
		// One that no rule knows and that carries no server code (no host
		// accepted a read-write session while a failover promotes one) is
		// a connection not yet made. A server's refusal with a code no
		// rule knows (a database that does not exist, a setting the server
		// does not have) stays permanent: connecting again gets the same.
		res.Connect = true
		if !known && res.Code == "" {
			res.Class = ConnLost
		}
		if res.Class == ConnLost {
			res.Unsent = true
		}
	}
	return res
}

// vendor classifies err by its vendor code. known is false when err carries
// no code or the code is in no table; res then still holds the code.
func (r *Rules) vendor(err error) (res Result, known bool) {
	var (
		code  string
		msg   string
		table map[string][]*CodeRule
	)
	if me, ok := find[*mysql.MySQLError](err); ok {
		code, msg, table = mysqlCode(me.Number), me.Message, mysqlIndex
	} else if pe, ok := find[*pgconn.PgError](err); ok {
		code, msg, table = pe.Code, pe.Message, pgIndex
	} else if se, ok := find[interface{ SQLState() string }](err); ok {
		code, msg, table = se.SQLState(), err.Error(), pgIndex
	} else {
		return Result{}, false
	}
	if res, ok := r.codes[code]; ok {
		return res, true
	}
	for _, rule := range table[code] {
		if rule.matches(msg) {
			return rule.result(), true
		}
	}
	return Result{Class: Permanent, Code: code}, false
}

// drivers classifies the sentinels and behaviours of pgx and
// go-sql-driver/mysql that carry no vendor code.
func drivers(err error) (Result, bool) {
	if s, ok := find[interface{ SafeToRetry() bool }](err); ok && s.SafeToRetry() {
		return Result{Class: ConnLost, Unsent: true}, true
	}
	switch {
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, mysql.ErrInvalidConn):
		return Result{Class: ConnLost}, true
	case errors.Is(err, pgx.ErrTxCommitRollback):
		return Result{Class: Permanent}, true
	}
	return Result{}, false
}

// CodeRule is one rule of the built-in vendor tables.
type CodeRule struct {
	// Engine names the database the rule is about.
	Engine string
	// Code is the SQLSTATE (PostgreSQL family) or the error number (MySQL
	// family), as it appears in Result.Code.
	Code string
	// Name is the vendor's name for the code.
	Name string
	// When describes the condition on the error message, if the code alone
	// is not enough ("" when it is): the message contains one of the
	// quoted texts.
	When string
	// Class and the facts that follow are the result (see Result).
	Class          Class
	Unsent         bool
	Contention     bool
	ReadOnly       bool
	StaleStatement bool
	// Why says in a few words what the error means.
	Why string

	// contains lists substrings, one of which the message must contain.
	contains []string
}

func (c *CodeRule) result() Result {
	return Result{Class: c.Class, Code: c.Code, Unsent: c.Unsent, Contention: c.Contention, ReadOnly: c.ReadOnly, StaleStatement: c.StaleStatement}
}

func (c *CodeRule) matches(msg string) bool {
	if len(c.contains) == 0 {
		return true
	}
	for _, s := range c.contains {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// BuiltinRules returns the built-in vendor rules, PostgreSQL family first,
// in the order they are documented. For a code with several rules, the
// first whose condition holds applies.
func BuiltinRules() []CodeRule {
	out := make([]CodeRule, 0, len(pgRules)+len(mysqlRules))
	out = append(out, pgRules...)
	out = append(out, mysqlRules...)
	for i := range out {
		var quoted []string
		for _, c := range out[i].contains {
			quoted = append(quoted, strconv.Quote(c))
		}
		out[i].When = strings.Join(quoted, " or ")
		out[i].contains = slices.Clone(out[i].contains)
	}
	return out
}

var (
	pgRules    = slices.Concat(postgresRules, cockroachRules, yugabyteRules, pgbouncerRules)
	mysqlRules = slices.Concat(mysqlServerRules, galeraRules, groupReplicationRules, tidbRules, vitessRules)
	pgIndex    = index(pgRules)
	mysqlIndex = index(mysqlRules)
	// mysqlCodes holds the text of every MySQL number in the tables, so
	// that classifying a known error allocates nothing.
	mysqlCodes = func() map[uint16]string {
		m := make(map[uint16]string)
		for _, r := range mysqlRules {
			n, err := strconv.ParseUint(r.Code, 10, 16)
			if err != nil {
				panic("classify: MySQL rule with a code that is not a number: " + r.Code)
			}
			m[uint16(n)] = r.Code
		}
		return m
	}()
)

func mysqlCode(n uint16) string {
	if s, ok := mysqlCodes[n]; ok {
		return s
	}
	return strconv.FormatUint(uint64(n), 10)
}

// index groups rules by code, rules with a message condition before the
// unconditional one, each group in table order otherwise.
func index(rules []CodeRule) map[string][]*CodeRule {
	m := make(map[string][]*CodeRule)
	for i := range rules {
		r := &rules[i]
		if len(r.contains) > 0 {
			m[r.Code] = append(m[r.Code], r)
		}
	}
	for i := range rules {
		r := &rules[i]
		if len(r.contains) == 0 {
			m[r.Code] = append(m[r.Code], r)
		}
	}
	return m
}

// when builds a message condition: the message contains one of subs.
func when(subs ...string) []string { return subs }
