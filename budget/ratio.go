package budget

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of NewRatio's parameters, Finagle's RetryBudget defaults.
const (
	DefaultRatio  = 0.2              // retries per first attempt
	DefaultFloor  = 10               // retries per second allowed whatever the traffic
	DefaultWindow = 10 * time.Second // how long a first attempt funds retries
)

// Limits of the Ratio parameters.
const (
	MaxRatio  = 10
	MinWindow = time.Millisecond
	MaxWindow = time.Hour
)

// Ratio allows retries up to a fraction of recent first attempts, plus a
// floor per second:
//
//   - Every first attempt deposits Ratio retries' worth of credit (0.2 by
//     default: five first attempts fund one retry). A retry spends one
//     retry's worth.
//   - Credit lasts about one Window. Time is cut into windows; credit and
//     spending are counted in the current window, and the previous window's
//     balance counts too, weighed by the share of the previous window still
//     inside the sliding window ending now (the sliding-window estimate used
//     by rate limiters). Older windows are forgotten, debts included.
//   - When credit runs out, a retry may still take a token from a
//     [TokenBucket] refilled at Floor per second that holds Floor·Window
//     tokens (at least one), so that retries are possible when traffic is
//     too thin to fund them.
//
// Whatever the goroutines do, from its creation until any time T the budget
// grants at most Ratio·F + Floor·T + B retries, where F is the number of
// first attempts recorded until T and B = max(1, Floor·Window) is the
// floor's burst. Credit is kept in fixed point: Ratio is rounded to three
// decimals, and a window's credit stops growing at 2^26 units (67 million
// first attempts at a Ratio of 0.2); a budget that saturates allows fewer
// retries, never more.
//
// Request adds to one atomic word and reads the clock only about once every
// 256 calls, to notice that the window moved on. Retry reads that word and,
// when there is credit, subtracts from it; it takes a lock only to move to a
// new window, once per window.
//
// The zero value denies every retry; use [NewRatio]. A Ratio is safe for
// concurrent use and must not be copied after first use.
type Ratio struct {
	deposit, withdraw int64 // credit units per first attempt and per retry
	window            int64 // nanoseconds
	shift             uint  // Request reads the clock when credit crosses a multiple of 1<<shift
	floor             *TokenBucket
	start             time.Time

	mu    sync.Mutex   // held while moving to a new window
	epoch atomic.Int64 // index of the window head belongs to
	// plenty is set while the credit is far above one retry, so that Retry
	// can spend at once with a single atomic add. It changes rarely, so
	// reading it costs no cache-line transfer.
	plenty atomic.Bool
	_      [56]byte // keeps head, written by every call, off the lines above
	head   atomic.Uint64
	_      [56]byte
}

// plentyRetries is how many retries' worth of credit turns the plenty hint on;
// it turns off below half of that.
const plentyRetries = 64

// head packs, from the most significant bit: an 8-bit tag (the low byte of
// the window index, so that an update can tell the window moved on), the
// current window's net credit and the previous window's final net credit,
// each a 28-bit field holding the value plus a bias of 2^27. The bias lets
// Request and Retry update the current credit with a plain atomic add:
// values are kept within ±limit, half the field's range, so that adds racing
// past a check can never carry into or borrow from the neighbouring field.
const (
	fieldBits = 28
	fieldMask = 1<<fieldBits - 1
	bias      = 1 << (fieldBits - 1)
	limit     = 1 << (fieldBits - 2) // credit units a window can hold
)

func pack(tag uint8, cur, prev int64) uint64 {
	return uint64(tag)<<(2*fieldBits) | uint64(cur+bias)<<fieldBits | uint64(prev+bias)
}

func unpack(h uint64) (tag uint8, cur, prev int64) {
	return uint8(h >> (2 * fieldBits)), int64(h>>fieldBits&fieldMask) - bias, int64(h&fieldMask) - bias
}

// NewRatio returns a Ratio budget. ratio is the number of retries one first
// attempt funds (0 ≤ ratio ≤ MaxRatio), floor the retries per second allowed
// whatever the traffic (0 for none, else MinRate ≤ floor ≤ MaxRate), window
// how long credit lasts (MinWindow ≤ window ≤ MaxWindow).
// NewRatio(DefaultRatio, DefaultFloor, DefaultWindow) is Finagle's default
// budget: 20% of the last ten seconds' requests, plus 10 retries per second.
func NewRatio(ratio, floor float64, window time.Duration) (*Ratio, error) {
	if math.IsNaN(ratio) || ratio < 0 || ratio > MaxRatio {
		return nil, fmt.Errorf("budget: ratio %v is outside [0, %d]", ratio, MaxRatio)
	}
	if window < MinWindow || window > MaxWindow {
		return nil, fmt.Errorf("budget: window %v is outside [%v, %v]", window, MinWindow, MaxWindow)
	}
	if math.IsNaN(floor) || floor < 0 || floor > MaxRate || floor > 0 && floor < MinRate {
		return nil, fmt.Errorf("budget: floor %v per second must be 0 or within [%v, %v]", floor, MinRate, MaxRate)
	}
	if burst := floor * window.Seconds(); burst > MaxBurst {
		return nil, fmt.Errorf("budget: floor %v per second over a window of %v holds %v retries, more than %d", floor, window, burst, MaxBurst)
	}
	b := &Ratio{window: int64(window), start: time.Now()}
	b.head.Store(pack(0, 0, 0))
	// ratio ≈ deposit/withdraw, both reduced by their gcd so that a window
	// holds as many deposits as possible.
	b.deposit, b.withdraw = int64(math.Round(ratio*1000)), 1000
	if b.deposit == 0 {
		b.withdraw = 1
	} else {
		g := gcd(b.deposit, b.withdraw)
		b.deposit, b.withdraw = b.deposit/g, b.withdraw/g
	}
	// Read the clock about once per 256 deposits.
	b.shift = uint(bits.Len64(uint64(b.deposit)*256 - 1))
	if floor > 0 {
		burst := max(1, int(floor*window.Seconds()))
		tb, err := NewTokenBucket(floor, burst)
		if err != nil {
			return nil, err
		}
		tb.start = b.start
		b.floor = tb
	}
	return b, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Request records a first attempt, depositing its credit.
func (b *Ratio) Request() {
	if b.deposit == 0 {
		return
	}
	h := b.head.Add(uint64(b.deposit) << fieldBits)
	_, cur, _ := unpack(h)
	if cur > limit {
		b.saturate()
	}
	if (cur-b.deposit)>>b.shift != cur>>b.shift {
		b.advance(sinceStart(b.start, time.Now()))
	}
}

// requestAt records a first attempt at time now. Unlike Request it always
// checks whether the window moved on, so that tests can drive the budget
// with times of their choosing (export_test.go).
func (b *Ratio) requestAt(now time.Time) {
	if b.deposit == 0 {
		return
	}
	b.advance(sinceStart(b.start, now))
	h := b.head.Add(uint64(b.deposit) << fieldBits)
	if _, cur, _ := unpack(h); cur > limit {
		b.saturate()
	}
}

// saturate brings the current credit back down to limit.
func (b *Ratio) saturate() {
	for {
		h := b.head.Load()
		tag, cur, prev := unpack(h)
		if cur <= limit || b.head.CompareAndSwap(h, pack(tag, limit, prev)) {
			return
		}
	}
}

// Retry spends one retry's worth of credit at time now and reports whether
// there was enough; when there is not, it tries the floor.
func (b *Ratio) Retry(now time.Time) bool {
	if b.withdraw == 0 {
		return false
	}
	t := sinceStart(b.start, now)
	b.advance(t)
	if b.plenty.Load() {
		e := b.epoch.Load()
		h := b.head.Add(-uint64(b.withdraw) << fieldBits)
		if uint8(h>>(2*fieldBits)) == uint8(e) {
			c := b.credit(h, e, t)
			if c < plentyRetries/2*b.withdraw {
				b.plenty.Store(false)
			}
			if c >= 0 {
				return true
			}
		}
		b.refund(uint8(e))
	}
	for {
		e := b.epoch.Load()
		h := b.head.Load()
		if uint8(h>>(2*fieldBits)) != uint8(e) {
			b.awaitMove()
			continue
		}
		c := b.credit(h, e, t)
		if c < b.withdraw {
			break
		}
		if c >= plentyRetries*b.withdraw && !b.plenty.Load() {
			b.plenty.Store(true)
		}
		// Spend optimistically with an atomic add, then check what the
		// add returned: every update before ours is in it, so a credit
		// still ≥ 0 proves the retry was funded.
		h = b.head.Add(-uint64(b.withdraw) << fieldBits)
		if uint8(h>>(2*fieldBits)) == uint8(e) && b.credit(h, e, t) >= 0 {
			return true
		}
		b.refund(uint8(e))
	}
	return b.floor != nil && b.floor.Retry(now)
}

// credit returns the credit in head word h, of window e, at time t.
func (b *Ratio) credit(h uint64, e, t int64) int64 {
	_, cur, prev := unpack(h)
	elapsed := min(max(t-e*b.window, 0), b.window)
	return cur + int64(float64(prev)*float64(b.window-elapsed)/float64(b.window))
}

// refund gives back a withdrawal that was made in window tag but not
// granted. If the window has moved on by one since, the withdrawal is part of
// the previous window's balance, so that is where it goes back; if it moved
// further, that balance is forgotten anyway.
func (b *Ratio) refund(tag uint8) {
	for {
		h := b.head.Load()
		t, cur, prev := unpack(h)
		switch t {
		case tag:
			cur += b.withdraw
		case tag + 1:
			prev = min(prev+b.withdraw, limit)
		default:
			return
		}
		if b.head.CompareAndSwap(h, pack(t, cur, prev)) {
			return
		}
	}
}

// awaitMove waits for a window move under way to finish.
func (b *Ratio) awaitMove() {
	b.mu.Lock()
	//lint:ignore SA2001 the empty critical section is the wait for the mover
	b.mu.Unlock()
}

// advance moves the budget to the window containing t if it is behind.
func (b *Ratio) advance(t int64) {
	e := t / b.window
	if e <= b.epoch.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.epoch.Load()
	if e <= old {
		return
	}
	for {
		h := b.head.Load()
		_, cur, _ := unpack(h)
		var prev int64
		if e == old+1 {
			prev = min(max(cur, -limit), limit) // the window that just ended
		}
		if b.head.CompareAndSwap(h, pack(uint8(e), 0, prev)) {
			break
		}
	}
	b.epoch.Store(e)
}

// Credit returns the retries the budget would grant at time now from credit
// alone and from the floor, without spending anything.
func (b *Ratio) Credit(now time.Time) (fromRequests, fromFloor int) {
	if b.withdraw == 0 {
		return 0, 0
	}
	t := sinceStart(b.start, now)
	e := b.epoch.Load()
	_, cur, prev := unpack(b.head.Load())
	if now := t / b.window; now > e {
		// The window moved on and nobody has noticed yet.
		if now == e+1 {
			prev = cur
		} else {
			prev = 0
		}
		cur, e = 0, now
	}
	credit := b.credit(pack(0, cur, prev), e, t)
	if b.floor != nil {
		fromFloor = b.floor.Tokens(now)
	}
	return int(max(credit, 0) / b.withdraw), fromFloor
}
