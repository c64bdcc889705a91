// Package accounts holds what the gateway knows about users, as records in
// the store and as cookies in their browsers: users and their enrolled
// methods, trusted devices, open challenges, sent codes and the counters
// that bound sending and guessing, the audit log, and the directory of
// known users. Every key the records live under is written in this file,
// one line each, as the state table of the design lists them.
package accounts

import "github.com/caddy2fa/caddy2fa/store"

// The key layout. A realm is one organisation: its users, policy and logs
// are apart from every other realm's in the same store.
//
//	record                          bucket                    id                 lifetime
//	user                            users/<realm>             user id            durable
//	trusted device                  devices/<realm>/<user>    device id          remember-me days
//	open challenge (flow)           flows/<realm>             flow id            15 min
//	passkey ceremony                ceremonies/<realm>        flow id            5 min, or until answered
//	sent code                       codes/<realm>             flow id/method     10 min
//	attempts at a challenge's code  attempts/<realm>          flow id            the flow's
//	wrong-code window, per user     fail-user/<realm>         user id            15 min
//	wrong-code window, per network  fail-ip/<realm>           IPv4 or IPv6 /64   10 min
//	lock ladder                     ladder/<realm>            user id            30 days, or until unlocked
//	send cooldown                   send-cooldown/<realm>     user id/method     30 s, 60 s
//	sends per hour                  sends-hour/<realm>        method/user id     1 h
//	texts per day                   sends-day/<realm>         sms/user id        24 h
//	texts per day to one number     sends-day-phone           E.164 number       24 h (every realm)
//	recovery codes to show once     recovery-shown/<realm>    user id            15 min, or until shown
//	audit event                     audit/<realm>             time-ordered id    400 days, bounded in number
//	audit event count               audit-count               realm              durable
//	(org policy and proposals live with package policy; the mail queue with package notify)

// Keys are one realm's keys.
type Keys struct{ Realm string }

func (k Keys) User(id string) store.Key { return store.Key{Bucket: k.UsersBucket(), ID: id} }

// UsersBucket lists the realm's users.
func (k Keys) UsersBucket() string { return "users/" + k.Realm }

func (k Keys) Device(user, id string) store.Key {
	return store.Key{Bucket: k.DevicesBucket(user), ID: id}
}

// DevicesBucket lists one user's trusted devices.
func (k Keys) DevicesBucket(user string) string { return "devices/" + k.Realm + "/" + user }

func (k Keys) Flow(id string) store.Key { return store.Key{Bucket: "flows/" + k.Realm, ID: id} }

func (k Keys) Ceremony(flowID string) store.Key {
	return store.Key{Bucket: "ceremonies/" + k.Realm, ID: flowID}
}

func (k Keys) Code(flowID, method string) store.Key {
	return store.Key{Bucket: "codes/" + k.Realm, ID: flowID + "/" + method}
}

// Attempts counts attempts at one challenge's code: a flow, an admin's
// proposal ("admin/<id>"), an unlock ("unlock/<user>").
func (k Keys) Attempts(challenge string) store.Key {
	return store.Key{Bucket: "attempts/" + k.Realm, ID: challenge}
}

func (k Keys) UserFailures(user string) store.Key {
	return store.Key{Bucket: "fail-user/" + k.Realm, ID: user}
}

// NetworkFailures counts per client network: pass a ClientKey, not a raw
// address.
func (k Keys) NetworkFailures(network string) store.Key {
	return store.Key{Bucket: "fail-ip/" + k.Realm, ID: network}
}

func (k Keys) Ladder(user string) store.Key { return store.Key{Bucket: "ladder/" + k.Realm, ID: user} }

func (k Keys) SendCooldown(user, method string) store.Key {
	return store.Key{Bucket: "send-cooldown/" + k.Realm, ID: user + "/" + method}
}

func (k Keys) SendsPerHour(method, user string) store.Key {
	return store.Key{Bucket: "sends-hour/" + k.Realm, ID: method + "/" + user}
}

func (k Keys) TextsPerDay(user string) store.Key {
	return store.Key{Bucket: "sends-day/" + k.Realm, ID: "sms/" + user}
}

// TextsPerDayTo counts texts to one number across users and realms: a
// number must not be pumped through many accounts.
func TextsPerDayTo(number string) store.Key { return store.Key{Bucket: "sends-day-phone", ID: number} }

// RecoveryShown holds a new set of recovery codes, sealed, until the
// user's page has shown it.
func (k Keys) RecoveryShown(user string) store.Key {
	return store.Key{Bucket: "recovery-shown/" + k.Realm, ID: user}
}

func (k Keys) Audit(id string) store.Key { return store.Key{Bucket: k.AuditBucket(), ID: id} }

// AuditBucket lists the realm's audit log.
func (k Keys) AuditBucket() string { return "audit/" + k.Realm }

func (k Keys) AuditCount() store.Key { return store.Key{Bucket: "audit-count", ID: k.Realm} }
