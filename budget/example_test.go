package budget_test

import (
	"fmt"
	"time"

	"github.com/retrysql/retrysql/budget"
)

func ExampleTokenBucket() {
	// 2 retries per second on average, up to 3 at once.
	b, err := budget.NewTokenBucket(2, 3)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	for i := 0; i < 4; i++ {
		fmt.Print(b.Retry(now), " ") // a burst: three granted, then none
	}
	fmt.Println(b.Retry(now.Add(500 * time.Millisecond))) // half a second later, one more
	// Output: true true true false true
}

func ExampleRatio() {
	// Retries are at most 20% of the first attempts of the last ten
	// seconds, with no floor.
	b, err := budget.NewRatio(0.2, 0, 10*time.Second)
	if err != nil {
		panic(err)
	}
	for range 10 {
		b.Request() // ten first attempts fund two retries
	}
	now := time.Now()
	for range 3 {
		fmt.Print(b.Retry(now), " ")
	}
	fmt.Println()
	// Output: true true false
}
