package identity

import (
	"context"
	"net"
	"net/http"
)

type contextKey struct{}

// NewContext returns ctx carrying who the request is, for the handlers of
// our pages behind the gate.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext is who the request is; the zero Identity when no one.
func FromContext(ctx context.Context) Identity {
	id, _ := ctx.Value(contextKey{}).(Identity)
	return id
}

// PeerIP is the address of the request's peer, without its port: the
// client's address when no proxy is trusted to say otherwise.
func PeerIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
