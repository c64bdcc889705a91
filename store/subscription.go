package store

import (
	"context"
	"sync"
)

// addSubscriber registers a new subscription in *subs, guarded by mu, and
// removes and closes it when ctx ends (unless the backend's Close, which
// sets *subs to nil, ended it first). Both backends fan out this way.
func addSubscriber(ctx context.Context, mu *sync.Mutex, subs *map[*subscription]struct{}, closed func() bool, buffer int) <-chan Change {
	s := &subscription{ch: make(chan Change, buffer)}
	mu.Lock()
	defer mu.Unlock()
	if closed() {
		close(s.ch)
		return s.ch
	}
	(*subs)[s] = struct{}{}
	s.stopAfter = context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := (*subs)[s]; ok {
			delete(*subs, s)
			close(s.ch)
		}
	})
	return s.ch
}

// subscription is one Subscribe channel. Sends and the close happen under
// Bolt.mu, so a send never meets a closed channel.
type subscription struct {
	ch        chan Change
	stopAfter func() bool // cancels the ctx watch
}

// send delivers c without waiting. When the subscriber is a full buffer
// behind, its backlog (and c) is replaced by one ChangeResync: it has to
// reload everything anyway, so the stale changes are worthless.
func (s *subscription) send(c Change) {
	select {
	case s.ch <- c:
		return
	default:
	}
	for drained := false; !drained; {
		select {
		case <-s.ch:
		default:
			drained = true
		}
	}
	// The buffer is empty now and this is its only sender (under Bolt.mu),
	// so this cannot block; select anyway in case the buffer has no room.
	select {
	case s.ch <- Change{Kind: ChangeResync}:
	default:
	}
}
