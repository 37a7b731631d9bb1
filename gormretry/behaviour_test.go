package gormretry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"gorm.io/gorm"

	"github.com/retrysql/retrysql/gormretry"
)

// TestGORMBehaviourUnchanged runs one transaction of ordinary GORM work
// (creates, finds, updates, a record not found, nested transactions with
// savepoints, a duplicate key translated by TranslateError, a prepared
// statement session, tx.DB(), deletes, raw SQL) four ways on each server:
// with GORM's own db.Transaction and with gormretry.RunInTx, each through
// the driver's own name and retrysql's (only the dialector's DriverName
// differs), with and without GORM's PrepareStmt. All four say the same,
// and leave the same rows.
func TestGORMBehaviourUnchanged(t *testing.T) {
	for _, server := range []string{"postgres", "mariadb"} {
		for _, prepared := range []bool{false, true} {
			name := server
			if prepared {
				name += "/PrepareStmt"
			}
			t.Run(name, func(t *testing.T) {
				behaviour(t, server, prepared)
			})
		}
	}
}

func behaviour(t *testing.T, server string, prepared bool) {
	var want []string
	for _, d := range dialects {
		if d.name != server {
			continue
		}
		for _, runner := range []string{"db.Transaction", "gormretry.RunInTx"} {
			got := scenario(t, d, runner, prepared)
			if want == nil {
				want = got
				t.Logf("%s, %s: %q", d, runner, got)
				continue
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, %s:\n got %q\nwant %q", d, runner, got, want)
			}
		}
	}
}

// scenario runs the transaction with runner on d and returns what it saw.
func scenario(t *testing.T, d dialect, runner string, prepared bool) []string {
	t.Helper()
	ctx := context.Background()
	admin := d.admin(t)
	tbl := "rs_gormretry_behaviour"
	table(t, admin, tbl, "id INT PRIMARY KEY, balance BIGINT NOT NULL")
	db := d.open(t, &gorm.Config{TranslateError: true, PrepareStmt: prepared})
	outer, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	db = db.Table(tbl).Session(&gorm.Session{})
	var seen []string
	note := func(format string, args ...any) { seen = append(seen, fmt.Sprintf(format, args...)) }
	fn := func(tx *gorm.DB) error {
		seen = nil
		if err := tx.Create([]account{{1, 100}, {2, 60}, {3, 40}}).Error; err != nil {
			return err
		}
		var a account
		err := tx.First(&a, 2).Error
		note("first 2: %+v %v", a, err)
		err = tx.First(&account{}, 99).Error
		note("first 99: not found %v", errors.Is(err, gorm.ErrRecordNotFound))
		res := tx.Model(&account{ID: 1}).Update("balance", gorm.Expr("balance - ?", 10))
		note("update: %d %v", res.RowsAffected, res.Error)
		var rich []account
		err = tx.Where("balance > ?", 50).Order("id").Find(&rich).Error
		note("rich: %+v %v", rich, err)
		err = tx.Transaction(func(tx2 *gorm.DB) error {
			if err := tx2.Create(&account{ID: 4, Balance: 1}).Error; err != nil {
				return err
			}
			return errors.New("inner gives up")
		})
		note("nested, failed: %v", err)
		err = tx.Transaction(func(tx2 *gorm.DB) error { return tx2.Create(&account{ID: 5, Balance: 5}).Error })
		note("nested, ok: %v", err)
		err = tx.Transaction(func(tx2 *gorm.DB) error { return tx2.Create(&account{ID: 1, Balance: 1}).Error })
		note("duplicate: ErrDuplicatedKey %v", errors.Is(err, gorm.ErrDuplicatedKey))
		var n int64
		err = tx.Model(&account{}).Count(&n).Error
		note("count: %d %v", n, err)
		inner, err := tx.DB()
		note("tx.DB: same handle %v, %v", inner == outer, err)
		a = account{}
		err = tx.Session(&gorm.Session{PrepareStmt: true}).First(&a, 1).Error
		note("prepared: %+v %v", a, err)
		res = tx.Delete(&account{}, 3)
		note("delete: %d %v", res.RowsAffected, res.Error)
		var sum int64
		err = tx.Raw("SELECT SUM(balance) FROM " + tbl).Scan(&sum).Error
		note("raw sum: %d %v", sum, err)
		return nil
	}
	switch runner {
	case "db.Transaction":
		err = db.WithContext(ctx).Transaction(fn)
	default:
		err = gormretry.RunInTx(ctx, db, nil, fn)
	}
	note("returned: %v", err)
	var rows []account
	err = db.Order("id").Find(&rows).Error
	note("after: %+v %v", rows, err)
	return seen
}
