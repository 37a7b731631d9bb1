package retrysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

var updateDocs = flag.Bool("update", false, "rewrite the options table in doc.go and README.md")

// sampleOption makes a valid option of each kind.
var sampleOption = map[string]func() Option{
	"WithClassifier":        func() Option { return WithClassifier(classify.Default) },
	"WithStrategy":          func() Option { return WithStrategy(classify.Transient, strategy.Fixed{}) },
	"WithCodeStrategy":      func() Option { return WithCodeStrategy("40001", strategy.Fixed{}) },
	"WithConnectStrategy":   func() Option { return WithConnectStrategy(strategy.Fixed{}) },
	"WithMaxAttempts":       func() Option { return WithMaxAttempts(2) },
	"WithClassAttempts":     func() Option { return WithClassAttempts(classify.TxAborted, 2) },
	"WithMaxElapsed":        func() Option { return WithMaxElapsed(time.Second) },
	"WithIdempotent":        func() Option { return WithIdempotent() },
	"WithBudget":            func() Option { return WithBudget(nil) },
	"WithBudgetClasses":     func() Option { return WithBudgetClasses(classify.Transient) },
	"WithBreaker":           func() Option { return WithBreaker(nil) },
	"WithOnRetry":           func() Option { return WithOnRetry(func(Event) {}) },
	"WithOnGiveUp":          func() Option { return WithOnGiveUp(func(Event) {}) },
	"WithOnComplete":        func() Option { return WithOnComplete(func(Completion) {}) },
	"WithLogger":            func() Option { return WithLogger(slog.New(slog.DiscardHandler)) },
	"WithAdmission":         func() Option { return WithAdmission(&admission.Controller{}) },
	"WithRetrier":           func() Option { return WithRetrier(&Retrier{}) },
	"WithIdempotentQueries": func() Option { return WithIdempotentQueries(ReadOnlyQuery) },
	"WithCommitCheck":       func() Option { return WithCommitCheck(false) }, // true needs a real driver (integration)
	"WithRetryIf":           func() Option { return WithRetryIf(func(error) bool { return false }) },
	"WithAttemptTimeout":    func() Option { return WithAttemptTimeout(time.Second) },
	"WithMaxRetryAfter":     func() Option { return WithMaxRetryAfter(time.Minute) },
}

type okConnector struct{}

func (okConnector) Connect(context.Context) (driver.Conn, error) { return nil, driver.ErrBadConn }
func (okConnector) Driver() driver.Driver                        { return nil }

// TestOptionScopes gives every option at every place: it is accepted
// exactly where it declares it is valid, and refused elsewhere with an
// error that names it and where it belongs.
func TestOptionScopes(t *testing.T) {
	db := sql.OpenDB(okConnector{})
	defer db.Close()
	r := &Retrier{}
	places := map[scope]func(Option) error{
		scopeHandle:  func(o Option) error { _, err := NewConnector(okConnector{}, o); return err },
		scopeRetrier: func(o Option) error { _, err := NewRetrier(o); return err },
		scopeDo: func(o Option) error {
			return Do(context.Background(), r, func(context.Context) error { return nil }, o)
		},
		// A closed handle: the options are checked before BEGIN fails.
		scopeTx: func(o Option) error {
			closed := sql.OpenDB(okConnector{})
			closed.Close()
			err := RunInTx(context.Background(), closed, nil, func(context.Context, *sql.Tx) error { return nil }, o)
			if err != nil && strings.Contains(err.Error(), "database is closed") {
				return nil
			}
			return err
		},
	}
	if len(sampleOption) != len(optionKinds) {
		t.Fatalf("%d sample options for %d kinds", len(sampleOption), len(optionKinds))
	}
	for _, k := range optionKinds {
		mk, ok := sampleOption[k.name]
		if !ok {
			t.Fatalf("no sample of %s", k.name)
		}
		for sc, give := range places {
			err := give(mk())
			switch valid := k.scopes&sc != 0; {
			case valid && err != nil:
				t.Errorf("%s refused at %s: %v", k.name, sc, err)
			case !valid && err == nil:
				t.Errorf("%s accepted at %s, where it does nothing", k.name, sc)
			case !valid && !(strings.Contains(err.Error(), k.name) && strings.Contains(err.Error(), k.scopes.String())):
				t.Errorf("%s at %s: %q does not say where it belongs", k.name, sc, err)
			}
		}
	}
}

// optionsTable renders the scopes of the options, for doc.go (prefix "//\t")
// and README.md.
func optionsTable(doc bool) string {
	var b strings.Builder
	mark := func(k *optionKind, sc scope) string {
		if k.scopes&sc != 0 {
			return "yes"
		}
		return ""
	}
	if doc {
		b.WriteString("//\toption                 handle  Retrier  Do   RunInTx\n")
		for _, k := range optionKinds {
			line := "//\t" + pad(k.name, 23) + pad(mark(k, scopeHandle), 8) + pad(mark(k, scopeRetrier), 9) + pad(mark(k, scopeDo), 5) + mark(k, scopeTx)
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
		return b.String()
	}
	b.WriteString("| option | handle | Retrier | Do | RunInTx |\n| --- | --- | --- | --- | --- |\n")
	for _, k := range optionKinds {
		b.WriteString("| `" + k.name + "` | " + mark(k, scopeHandle) + " | " + mark(k, scopeRetrier) + " | " + mark(k, scopeDo) + " | " + mark(k, scopeTx) + " |\n")
	}
	return b.String()
}

func pad(s string, n int) string { return s + strings.Repeat(" ", max(n-len(s), 1)) }

// TestOptionsTableIsCurrent keeps the tables of doc.go and README.md in
// step with the scopes the options declare.
func TestOptionsTableIsCurrent(t *testing.T) {
	for _, f := range []struct {
		path, begin, end string
		doc              bool
	}{
		{"doc.go", "//\toption                 handle", "//\n", true},
		{"README.md", "| option | handle |", "\n\n", false},
	} {
		raw, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		i := strings.Index(s, f.begin)
		if i < 0 {
			t.Fatalf("%s has no options table", f.path)
		}
		j := i + strings.Index(s[i:], f.end)
		table := optionsTable(f.doc)
		if !f.doc {
			table = strings.TrimSuffix(table, "\n") // the blank line ends it
		}
		want := s[:i] + table + s[j:]
		if want == s {
			continue
		}
		if *updateDocs {
			if err := os.WriteFile(f.path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("the options table of %s is out of date: run go test -run OptionsTable -update .", f.path)
	}
}
