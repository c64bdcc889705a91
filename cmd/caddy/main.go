// Command caddy is Caddy with the caddy2fa modules and Caddy's standard
// modules: `go build ./cmd/caddy` builds it without xcaddy.
package main

import (
	_ "time/tzdata"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy2fa/caddy2fa/caddymodule"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
