package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql/examples/bank/workload"
)

// target is the database the demo runs against, as parseDSN read it.
type target struct {
	Dialect workload.Dialect
	Driver  string // the plain database/sql driver: "pgx" or "mysql"
	DSN     string // for Driver, with the demo's session settings added
	Form    string // which form the DSN was written in
	Where   string // the server, database and user, without the password
}

// dsnForms is what parseDSN accepts, for its errors and -help.
const dsnForms = `the demo takes a DSN in one of these forms:
  postgres://user:password@host:5432/db?sslmode=disable   PostgreSQL URL (postgresql:// too)
  host=127.0.0.1 port=5432 user=postgres dbname=test       PostgreSQL keyword/value (pgx, libpq)
  mysql://user:password@host:3306/db                       MySQL/MariaDB URL (mariadb:// too)
  user:password@tcp(host:3306)/db                          MySQL/MariaDB, go-sql-driver/mysql's own form`

// keywordForm matches the start of a PostgreSQL keyword/value DSN.
var keywordForm = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\s*=`)

// parseDSN recognises the four forms of dsnForms, checks the DSN with the
// driver's own parser, and adds the demo's settings: on PostgreSQL,
// enable_seqscan=off, so that the few rows of the accounts are read by
// index and conflicts are row-level only.
func parseDSN(s string) (target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return target{}, errors.New("no DSN given; " + dsnForms)
	}
	scheme := ""
	if i := strings.Index(s, "://"); i > 0 {
		scheme = strings.ToLower(s[:i])
	}
	switch {
	case scheme == "postgres" || scheme == "postgresql":
		return pgTarget(s, "PostgreSQL URL", func() (string, error) {
			u, err := url.Parse(s)
			if err != nil {
				return "", err
			}
			q := u.Query()
			if !q.Has("enable_seqscan") {
				q.Set("enable_seqscan", "off")
			}
			u.RawQuery = q.Encode()
			return u.String(), nil
		})
	case scheme == "mysql" || scheme == "mariadb":
		return mysqlURL(s)
	case scheme != "":
		return target{}, fmt.Errorf("DSN scheme %q is not one the demo knows; %s", scheme+"://", dsnForms)
	case keywordForm.MatchString(s):
		return pgTarget(s, "PostgreSQL keyword/value", func() (string, error) {
			if hasKeyword(s, "enable_seqscan") {
				return s, nil
			}
			return s + " enable_seqscan=off", nil
		})
	}
	cfg, err := mysql.ParseDSN(s)
	if err != nil {
		return target{}, fmt.Errorf("DSN %q is in no form the demo knows (as a go-sql-driver/mysql DSN: %v); %s", redact(s), err, dsnForms)
	}
	return mysqlTarget(cfg, "go-sql-driver/mysql DSN")
}

// pgTarget checks a PostgreSQL DSN with pgconn's parser, which takes both
// forms, and adds the settings.
func pgTarget(s, form string, withSettings func() (string, error)) (target, error) {
	cfg, err := pgconn.ParseConfig(s)
	if err != nil {
		return target{}, fmt.Errorf("reading the %s DSN: %v; %s", form, err, dsnForms)
	}
	dsn, err := withSettings()
	if err != nil {
		return target{}, fmt.Errorf("reading the %s DSN: %v", form, err)
	}
	host := cfg.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, fmt.Sprint(cfg.Port))
	} else {
		host = fmt.Sprintf("%s (socket, port %d)", host, cfg.Port)
	}
	return target{
		Dialect: workload.Postgres, Driver: "pgx", DSN: dsn, Form: form,
		Where: fmt.Sprintf("PostgreSQL at %s, database %s, user %s", host, cfg.Database, cfg.User),
	}, nil
}

// mysqlURL turns mysql://user:password@host:port/db?params into
// go-sql-driver/mysql's own form.
func mysqlURL(s string) (target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return target{}, fmt.Errorf("reading the MySQL URL: %v; %s", err, dsnForms)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(db, "/") {
		return target{}, fmt.Errorf("MySQL URL %q: the path must be /database", redact(s))
	}
	host := u.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if u.Port() == "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "3306")
	}
	// The parameters (parseTime=true, tls=…) are go-sql-driver/mysql's:
	// its parser reads them.
	native := "tcp(" + host + ")/" + db
	if u.RawQuery != "" {
		native += "?" + u.RawQuery
	}
	cfg, err := mysql.ParseDSN(native)
	if err != nil {
		return target{}, fmt.Errorf("reading the MySQL URL %q: %v; %s", redact(s), err, dsnForms)
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	return mysqlTarget(cfg, "MySQL URL")
}

func mysqlTarget(cfg *mysql.Config, form string) (target, error) {
	if cfg.DBName == "" {
		return target{}, fmt.Errorf("the %s names no database (…/dbname): the demo makes its tables in one", form)
	}
	where := cfg.Addr
	if cfg.Net != "tcp" {
		where = cfg.Net + " " + cfg.Addr
	}
	return target{
		Dialect: workload.MySQL, Driver: "mysql", DSN: cfg.FormatDSN(), Form: form,
		Where: fmt.Sprintf("MySQL/MariaDB at %s, database %s, user %s", where, cfg.DBName, cfg.User),
	}, nil
}

// hasKeyword reports whether a keyword/value DSN sets key.
func hasKeyword(s, key string) bool {
	return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(key) + `\s*=`).MatchString(s)
}

var (
	urlPassword     = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)
	keywordPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	mysqlPassword   = regexp.MustCompile(`^([^:@/()]*:)[^@]*@`)
)

// redact hides the password of a DSN in any of the forms.
func redact(dsn string) string {
	switch {
	case strings.Contains(dsn, "://"):
		return urlPassword.ReplaceAllString(dsn, "${1}xxx@")
	case keywordForm.MatchString(dsn):
		return keywordPassword.ReplaceAllString(dsn, "${1}xxx")
	}
	return mysqlPassword.ReplaceAllString(dsn, "${1}xxx@")
}
