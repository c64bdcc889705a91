// Package bench holds the load and micro benchmarks that drive the built
// Caddy binary from outside; it imports nothing of caddy2fa's.
//
//   - run.sh: requests per second and latency of a verified user's request
//     through the twofactor gate, against plain reverse_proxy (and, with
//     PEERS=1, caddy-security's authorize and forward_auth) on one binary
//   - memory.sh: resident memory per verified user
//   - challenge.sh: TOTP verifications per second with the Redis store
//
// The programs beside them: upstream (the app, 1 KiB bodies, and a
// forward_auth endpoint), jwt (an HS256 token for caddy-security) and
// users (many users through the real challenge pages). RESULTS.md has the
// latest numbers and how they were taken.
package bench
