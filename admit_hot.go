package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"hash/maphash"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// Admission at the first statement. Under a controller that admits first
// attempts only when hot (admission.Settings.AdmitHotOnly), a retrysql
// connection stops the first statement of each attempt's transaction
// before sending it and asks RunInTx (firstStatement): its keys, one per
// argument (the statement's text with the argument's position and value),
// or the text alone for a statement without arguments, tell the
// controller whether the transaction is hot; if so, it waits for a permit
// there. Nothing of the transaction holds a lock or a snapshot yet:
// PostgreSQL takes the snapshot of a REPEATABLE READ or SERIALIZABLE
// transaction at its first statement, InnoDB its read view at the first
// consistent read. The same place takes the fleet gate (gate.go).

// ownStatement marks the context of a statement of retrysql's own that
// comes first in a transaction (the commit check's proof): it takes the
// fleet gate but says nothing of the transaction's rows.
type ownStatement struct{}

// maxKeys bounds the keys taken from a first statement.
const maxKeys = 8

// keySeed seeds the keys' hashes: they stay within the process.
var keySeed = maphash.MakeSeed()

// statementKeys appends to dst the keys of a statement and returns them:
// one per argument of its WHERE clause (all its arguments if it has none),
// or the statement alone if it has no arguments.
func statementKeys(dst []uint64, query string, args []driver.NamedValue) []uint64 {
	q := maphash.String(keySeed, query)
	if len(args) == 0 {
		return append(dst, q)
	}
	where := whereArgs(query)
	for i, a := range args {
		if len(dst) == maxKeys {
			break
		}
		if where != 0 && (a.Ordinal < 1 || a.Ordinal > 64 || where&(1<<(a.Ordinal-1)) == 0) {
			continue
		}
		v, ok := valueHash(a.Value)
		if !ok {
			continue
		}
		dst = append(dst, mix(mix(q, uint64(i)), v))
	}
	return dst
}

// whereArgs returns the ordinals (bit n-1 for ordinal n) of the arguments
// whose placeholders ($n or ?) follow the statement's last WHERE: the
// rows it picks, what transactions contend on. An amount in a SET clause,
// which hot and cold transactions share, or a time stamp, which no two
// share, says nothing of contention. 0: no WHERE, or none of its
// placeholders found (then all arguments count).
func whereArgs(query string) uint64 {
	w := lastWord(query, "where")
	if w < 0 {
		return 0
	}
	var mask uint64
	marks := 0
	for i := 0; i < len(query); i++ {
		switch query[i] {
		case '?':
			marks++
			if i > w && marks <= 64 {
				mask |= 1 << (marks - 1)
			}
		case '$':
			n, j := 0, i+1
			for ; j < len(query) && query[j] >= '0' && query[j] <= '9' && n <= 64; j++ {
				n = n*10 + int(query[j]-'0')
			}
			if i > w && n >= 1 && n <= 64 {
				mask |= 1 << (n - 1)
			}
			i = j - 1
		}
	}
	return mask
}

// lastWord returns the index of the last occurrence of word (lower case)
// in s as a word of its own, in any case, or -1.
func lastWord(s, word string) int {
	for i := len(s) - len(word); i >= 0; i-- {
		if !strings.EqualFold(s[i:i+len(word)], word) {
			continue
		}
		before := i == 0 || !identByte(s[i-1])
		after := i+len(word) == len(s) || !identByte(s[i+len(word)])
		if before && after {
			return i
		}
	}
	return -1
}

func identByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// valueHash hashes an argument: a driver.Value, or a value of a basic kind
// that the driver takes as it is (pgx takes a Go int, say). Other values
// (structs, pointers) give no key.
func valueHash(v any) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		return mix(1, uint64(x)), true
	case int:
		return mix(1, uint64(x)), true
	case int32:
		return mix(1, uint64(x)), true
	case string:
		return mix(2, maphash.String(keySeed, x)), true
	case []byte:
		return mix(3, maphash.Bytes(keySeed, x)), true
	case float64:
		return mix(4, math.Float64bits(x)), true
	case bool:
		if x {
			return mix(5, 1), true
		}
		return mix(5, 0), true
	case time.Time:
		return mix(6, uint64(x.UnixNano())), true
	case nil:
		return mix(7, 0), true
	}
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return mix(1, uint64(r.Int())), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return mix(1, r.Uint()), true
	case reflect.String:
		return mix(2, maphash.String(keySeed, r.String())), true
	case reflect.Float32, reflect.Float64:
		return mix(4, math.Float64bits(r.Float())), true
	case reflect.Bool:
		if r.Bool() {
			return mix(5, 1), true
		}
		return mix(5, 0), true
	}
	return 0, false
}

// mix combines two hashes (splitmix64's finalizer on their sum).
func mix(a, b uint64) uint64 {
	x := a*0x9e3779b97f4a7c15 + b
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// hotBusy is how errHotBusy is classified: a contention abort, replayed.
var hotBusy = classify.Result{Class: classify.TxAborted, Contention: true}

// errHotBusy ends an attempt whose first statement is hot when every
// permit is taken and it may not wait for one with its connection
// (mayWaitHolding): nothing of it was sent, and its replay waits for a
// permit before BEGIN, holding no connection.
var errHotBusy = Classified(errors.New("retrysql: the transaction's rows are hot and every admission permit is taken: it begins again once it has one"), hotBusy)

// mayWaitHolding reports whether a first statement, which holds one of
// the pool's connections, may wait for a permit, and if so counts it in
// holding (the handle's count, which the caller takes back after the
// wait). It may while the first statements waiting so leave a connection
// of the pool to the attempts that hold permits: those may be waiting for
// one (a replay takes its permit before BEGIN), and with every connection
// held by a first statement waiting for a permit, and every permit by a
// replay waiting for a connection, neither would go on. An unbounded
// pool always leaves one; a handle that is not a *sql.DB is not known.
func (a *admitter) mayWaitHolding(holding *atomic.Int32) bool {
	if a.pool == nil || holding == nil {
		return false
	}
	n := a.pool.Stats().MaxOpenConnections
	if holding.Add(1) < int32(n) || n <= 0 {
		return true
	}
	holding.Add(-1)
	return false
}

// firstStatement runs before the first statement of an attempt's
// transaction on a retrysql connection: it notes the statement's keys,
// takes a permit if the transaction is hot and has none (waiting for it
// if mayWaitHolding says it may, else ending the attempt with errHotBusy),
// and takes the
// fleet gate if the permit asks. gate runs a statement on the
// transaction's connection. When the first statement is retrysql's own
// (the commit check's proof, marked ownStatement), it takes the gate only,
// and runs again before fn's first statement with sent set: it judges
// that statement (its keys, the site's record) but waits for nothing,
// since the transaction has its snapshot already (PostgreSQL takes it at
// the first statement); a site found likely hot waits before BEGIN.
func (t *txSite) firstStatement(ctx context.Context, query string, args []driver.NamedValue, gate func(context.Context, string) error, sent bool, holding *atomic.Int32) error {
	a := &t.adm
	if a.hotOnly && ctx.Value(ownStatement{}) == nil {
		a.keys = statementKeys(a.keyBuf[:0], query, args)
		// A replay holds its permit already; its keys are counted when it
		// ends (Observe). Hot judges first attempts, and keeps the site's
		// record of them.
		if a.aborts == 0 && a.ctl.Hot(a.site, a.keys) && !a.held && !sent {
			if p, ok := a.ctl.TryAdmit(a.ticket); ok {
				a.permit, a.held = p, true
			} else if a.mayWaitHolding(holding) {
				err := a.hold(ctx)
				holding.Add(-1)
				if err != nil {
					return err
				}
			} else {
				a.busy = true
				t.facts.statementFailed(errHotBusy, hotBusy, false) // so that fn cannot swallow it
				return errHotBusy
			}
		}
	}
	if sent {
		return nil // the gate came before the first statement
	}
	return a.takeGate(ctx, t.readOnly, gate)
}

// takeGate takes the fleet gate if the attempt's permit asks for it and
// the handle's gate is ready.
func (a *admitter) takeGate(ctx context.Context, readOnly bool, exec func(context.Context, string) error) error {
	stripe, ok := a.permit.Gate()
	if !ok || !a.held || readOnly || a.gate == nil || !a.gate.ready.Load() || a.gate.broken.Load() {
		return nil
	}
	err := a.gate.take(ctx, a.permit, stripe, exec)
	if err == nil || ctx.Err() != nil {
		return err
	}
	switch res := a.p.classify(err); {
	case res.Class == classify.Permanent && !res.ReadOnly:
		// The gate cannot work here: the handle stops using it, and the
		// attempt is replayed without it (fn's statements were not sent).
		a.gate.broken.Store(true)
		return Retryable(err)
	}
	return err
}
