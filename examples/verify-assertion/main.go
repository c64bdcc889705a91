package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	jwksURL := flag.String("jwks", "", "the gateway's JWKS URL")
	issuer := flag.String("issuer", "", "the gateway's site_url")
	audience := flag.String("audience", "", "this app's name in the assertion block")
	listen := flag.String("listen", "127.0.0.1:9000", "address to serve on")
	flag.Parse()
	resp, err := http.Get(*jwksURL)
	if err != nil {
		log.Fatal(err)
	}
	v := &Verifier{Issuer: *issuer, Audience: *audience}
	if err := json.NewDecoder(resp.Body).Decode(&v.Keys); err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s (2FA: %v)\n", User(r).Subject, User(r).AMR)
	})
	log.Fatal(http.ListenAndServe(*listen, v.Require(hello)))
}
