// Package gate is the gateway's hot path: what a request is (its path as
// the app will read it, its credentials) and whether it may go on to the
// app. It knows nothing of Caddy.
package gate
