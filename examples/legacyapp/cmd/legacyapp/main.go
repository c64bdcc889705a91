// Command legacyapp serves the demo legacy web app that the two-factor
// gateway is put in front of.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caddy2fa/caddy2fa/examples/legacyapp"
)

// shutdownGrace is how long in-flight requests get to finish on exit.
const shutdownGrace = 5 * time.Second

func main() {
	// Loopback by default: the app is meant to be reached only through the
	// gateway, never directly.
	listenAddr := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()

	if err := run(*listenAddr); err != nil {
		log.Fatal(err)
	}
}

func run(listenAddr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Listen before serving so the log shows the real address, including
	// the port picked for ":0".
	listener, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler:           legacyapp.New(legacyapp.Options{}),
		ReadHeaderTimeout: 10 * time.Second,
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	log.Printf("legacyapp listening on http://%s", listener.Addr())

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Print("legacyapp shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
