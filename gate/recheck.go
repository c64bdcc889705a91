package gate

import "sync/atomic"

// rechecked is a memo whose entries are read again from the store at their
// next use after a resync (the change notifications were down, so some
// may have been missed). If the store cannot answer then, as in the middle
// of a failover, the entry known before stands: it is what the hot path
// served while the notifications were down, and it serves it until the
// store can say otherwise. An entry a notification forgot is never used.
type rechecked[K comparable, V any] struct {
	m     *memo[K, checkedValue[V]]
	round atomic.Uint64 // resyncs so far
}

type checkedValue[V any] struct {
	v     V
	round uint64 // the resync round it was read in
}

func newRechecked[K comparable, V any](limit int) *rechecked[K, V] {
	return &rechecked[K, V]{m: newMemo[K, checkedValue[V]](limit)}
}

// get is the value of key: from memory when read since the last resync,
// else from load (and kept), else, when load fails, what was known.
func (c *rechecked[K, V]) get(key K, load func() (V, error)) (V, error) {
	e, ok, gen := c.m.get(key)
	round := c.round.Load()
	if ok && e.round == round {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		if ok {
			return e.v, nil
		}
		return v, err
	}
	c.m.put(key, checkedValue[V]{v: v, round: round}, gen)
	return v, nil
}

func (c *rechecked[K, V]) forget(key K) { c.m.forget(key) }

// resync makes every entry be read again at its next use.
func (c *rechecked[K, V]) resync() { c.round.Add(1) }
