package admission

import "time"

// waiters is a heap of waiting attempts, oldest ticket first.
type waiters []*waiter

type waiter struct {
	ticket    int64
	seq       uint64
	exclusive bool
	ready     chan struct{}
	granted   bool
	stripe    int // the gate stripe granted + 1, or 0
	since     time.Time
	index     int
}

func (q waiters) Len() int { return len(q) }
func (q waiters) Less(i, j int) bool {
	if q[i].ticket != q[j].ticket {
		return q[i].ticket < q[j].ticket
	}
	return q[i].seq < q[j].seq
}
func (q waiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *waiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return w
}
