// Package caddy2fa is a two-factor gateway for Caddy: it puts email, SMS
// and authenticator-app verification in front of web apps that already
// log their users in.
//
// Importing this package registers the Caddy modules; build Caddy with
//
//	xcaddy build --with github.com/caddy2fa/caddy2fa
package caddy2fa

import _ "github.com/caddy2fa/caddy2fa/caddymodule"
