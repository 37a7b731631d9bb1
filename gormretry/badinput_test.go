package gormretry_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/retrysql/retrysql/gormretry"
)

// TestBadInput: nil or unusable arguments are errors, never panics, and
// fn does not run.
func TestBadInput(t *testing.T) {
	fn := func(*gorm.DB) error { t.Fatal("fn ran"); return nil }
	ctx := context.Background()
	var noContext context.Context // nil, on purpose
	for name, call := range map[string]func() error{
		"nil context": func() error { return gormretry.RunInTx(noContext, &gorm.DB{}, nil, fn) },
		"nil db":      func() error { return gormretry.RunInTx(ctx, nil, nil, fn) },
		"zero db":     func() error { return gormretry.RunInTx(ctx, &gorm.DB{}, nil, fn) },
		"nil fn":      func() error { return gormretry.RunInTx(ctx, &gorm.DB{}, nil, nil) },
		"nil fn, value": func() error {
			_, err := gormretry.RunInTxValue[int](ctx, &gorm.DB{}, nil, nil)
			return err
		},
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
