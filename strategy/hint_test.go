package strategy_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/retrysql/retrysql/strategy"
)

func ExampleFollowHint() {
	s := strategy.FollowHint{Strategy: strategy.Exponential{Initial: 100 * time.Millisecond, Max: time.Second}}
	fmt.Println(s.Delay(1, 0))                          // no hint: the strategy's
	fmt.Println(s.DelayHint(1, 0, 10*time.Millisecond)) // the server's, even shorter
	// Output:
	// 100ms
	// 10ms
}

func TestFollowHintValidates(t *testing.T) {
	for _, s := range []strategy.FollowHint{{}, {Strategy: strategy.Exponential{Initial: time.Second, Max: time.Millisecond}}} {
		if err := s.Validate(); !errors.Is(err, strategy.ErrInvalid) {
			t.Errorf("%+v: Validate = %v", s, err)
		}
	}
	if err := (strategy.FollowHint{Strategy: strategy.Fixed{Interval: time.Second}}).Validate(); err != nil {
		t.Error(err)
	}
	if d := (strategy.FollowHint{}).Delay(3, time.Second); d != 0 {
		t.Errorf("the zero value waits %v", d)
	}
}
