package store

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Publish implements Backend: every Redis subscribed to the same channel
// (in this process or another) delivers c to its subscribers.
func (r *Redis) Publish(ctx context.Context, c Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.closed.Load() {
		return errRedisClosed
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return err
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	return r.classify(ctx, "publish", "", r.client.Publish(cctx, r.changes.channel, payload).Err())
}

// Subscribe implements Backend. All subscribers share one Redis
// subscription; a subscriber that falls behind gets a ChangeResync instead
// of its backlog, and so does every subscriber whenever that subscription
// is re-established.
func (r *Redis) Subscribe(ctx context.Context) <-chan Change {
	return r.changes.subscribe(ctx, r.closed.Load)
}

// redisChanges is the one Redis subscription to the change channel that
// every Subscribe of a Redis shares: a listener receives it until stop and
// fans each change out to the subscribers.
type redisChanges struct {
	client  redis.UniversalClient
	channel string
	timeout time.Duration

	listenCtx    context.Context // ends at stop
	stopListen   context.CancelFunc
	listenerDone chan struct{}
	live         chan struct{} // closed at the first subscription confirmation

	mu     sync.Mutex // guards subs and pubsub
	subs   map[*subscription]struct{}
	pubsub *redis.PubSub
}

// newRedisChanges starts listening to channel.
func newRedisChanges(c redis.UniversalClient, channel string, timeout time.Duration) *redisChanges {
	ctx, cancel := context.WithCancel(context.Background())
	rc := &redisChanges{
		client:       c,
		channel:      channel,
		timeout:      timeout,
		listenCtx:    ctx,
		stopListen:   cancel,
		listenerDone: make(chan struct{}),
		live:         make(chan struct{}),
		subs:         make(map[*subscription]struct{}),
		pubsub:       c.Subscribe(ctx), // no channel yet: no I/O here
	}
	go rc.listen(rc.pubsub)
	return rc
}

// subscribe adds a subscriber; closed reports whether the Redis is closed.
func (rc *redisChanges) subscribe(ctx context.Context, closed func() bool) <-chan Change {
	if ctx.Err() == nil {
		// Changes published after Subscribe returns must arrive, so wait
		// (bounded) for the shared subscription to be confirmed; if Redis
		// is down, the subscriber gets a ChangeResync once it is back.
		wait := time.NewTimer(rc.liveWait())
		select {
		case <-rc.live:
		case <-ctx.Done():
		case <-rc.listenCtx.Done():
		case <-wait.C:
		}
		wait.Stop()
	}
	return addSubscriber(ctx, &rc.mu, &rc.subs, closed, redisSubscriberBuffer)
}

// stop ends the listener and every subscription, for Close.
func (rc *redisChanges) stop() {
	rc.stopListen()
	rc.mu.Lock()
	_ = rc.pubsub.Close() // unblocks the listener's receive
	rc.mu.Unlock()
	<-rc.listenerDone
	rc.mu.Lock()
	for s := range rc.subs {
		s.stopAfter()
		close(s.ch)
	}
	rc.subs = nil
	rc.mu.Unlock()
}

// liveWait bounds the wait for the change subscription: more than one
// call's timeout, as it takes a few round trips (dial, TLS, HELLO,
// SUBSCRIBE) that no single call pays.
func (rc *redisChanges) liveWait() time.Duration { return max(4*rc.timeout, time.Second) }

// listen receives the change channel until stop, driving go-redis's PubSub
// directly to see what its Channel API hides: every (re)subscription, after
// which subscribers must resync, and silence, which it probes with PING.
func (rc *redisChanges) listen(ps *redis.PubSub) {
	defer close(rc.listenerDone)
	ctx := rc.listenCtx
	_ = ps.Subscribe(ctx, rc.channel) // on failure, the next receive redials and subscribes
	quiet := max(time.Second, 4*rc.timeout)
	var pinged bool
	var backoff time.Duration
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, quiet)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			pinged, backoff = false, 0
			rc.deliver(msg)
		case isTimeout(err) && !pinged:
			// Quiet for a while: make the server prove the connection lives.
			pctx, cancel := context.WithTimeout(ctx, rc.timeout)
			_ = ps.Ping(pctx)
			cancel()
			pinged = true
		case isTimeout(err):
			// The PING went unanswered: the server or the path to it hangs.
			// go-redis keeps connections that merely time out, so start over
			// on a new one.
			if ps = rc.renewPubSub(ps); ps == nil {
				return
			}
			pinged = false
		default:
			// The connection broke; the next receive redials (in a Cluster,
			// after the slot map is read again: its node may be dead). Back
			// off so a dead server is not hammered.
			if cc, ok := rc.client.(*redis.ClusterClient); ok {
				cc.ReloadState(context.Background())
			}
			backoff = min(max(2*backoff, 20*time.Millisecond), time.Second)
			if sleepContext(ctx, backoff) != nil {
				return
			}
		}
	}
}

// renewPubSub replaces ps with a new subscription, or returns nil after
// stop.
func (rc *redisChanges) renewPubSub(ps *redis.PubSub) *redis.PubSub {
	_ = ps.Close()
	rc.mu.Lock()
	if rc.listenCtx.Err() != nil {
		rc.mu.Unlock()
		return nil
	}
	ps = rc.client.Subscribe(rc.listenCtx) // no I/O under the lock
	rc.pubsub = ps
	rc.mu.Unlock()
	_ = ps.Subscribe(rc.listenCtx, rc.channel)
	return ps
}

// deliver handles one pub/sub message.
func (rc *redisChanges) deliver(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Kind != "subscribe" {
			return
		}
		// Changes published while the subscription was down are lost.
		// (Subscribers present at the first confirmation gave up waiting for
		// it in Subscribe and may have missed some too.)
		rc.fanOut(Change{Kind: ChangeResync})
		// Only now: a Subscribe waiting for this must not get that resync.
		select {
		case <-rc.live:
		default:
			close(rc.live)
		}
	case *redis.Message:
		var c Change
		if err := json.Unmarshal([]byte(m.Payload), &c); err != nil || c.Kind == "" {
			// Not understood (another version?): something changed.
			c = Change{Kind: ChangeResync}
		}
		rc.fanOut(c)
	}
}

// fanOut sends c to every subscriber without waiting (see subscription.send;
// here rc.mu plays Bolt.mu's part).
func (rc *redisChanges) fanOut(c Change) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for s := range rc.subs {
		s.send(c)
	}
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
