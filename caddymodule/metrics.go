package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts the gateway's events (challenges, enrollments, wrong
// codes, lockouts, store outages) in Caddy's metrics registry.
type metrics struct {
	events *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "twofactor",
		Name:      "events_total",
		Help:      "Two-factor gateway events by kind.",
	}, []string{"event"})
	if reg != nil {
		if err := reg.Register(events); err != nil {
			// Several handlers of one config share the registry.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			events = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return &metrics{events: events}, nil
}

func (m *metrics) event(name string) { m.events.WithLabelValues(name).Inc() }
