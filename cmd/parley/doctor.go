package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v3"

	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/nat"
)

func runDoctor(ctx context.Context, args []string) error {
	var o clientOptions
	fs := newFlagSet("doctor", "doctor [--directory URL] [--user NAME] [--ice-server URL]… (without --ice-server: the directory's relays)", os.Stderr)
	o.register(fs)
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if _, err := o.resolve(); err != nil {
		return err
	}
	w := os.Stdout
	servers := checkDirectory(ctx, w, &o)
	if len(o.ice.Servers) > 0 {
		servers = o.ice.Servers // --ice-server replaces the directory's
	}

	stunServers, tcpServers := probeTargets(servers)
	report, err := nat.Probe(ctx, nat.ProbeConfig{STUNServers: stunServers, TCPServers: tcpServers})
	if err != nil {
		return err
	}
	for i, s := range stunServers {
		if report.Mapped[i].IsValid() {
			fmt.Fprintf(w, "stun %s: your public address is %s\n", s, report.Mapped[i])
		} else {
			fmt.Fprintf(w, "stun %s: no answer over UDP\n", s)
		}
	}
	if len(stunServers) > 0 {
		fmt.Fprintf(w, "nat mapping: %s\n", report.Mapping)
	}
	for i, s := range tcpServers {
		state := "reachable"
		if !report.TCP[i] {
			state = "unreachable"
		}
		fmt.Fprintf(w, "relay %s over tcp: %s\n", s, state)
	}

	devs, err := media.Devices()
	switch {
	case err != nil:
		fmt.Fprintf(w, "audio: %v\n", err)
	case len(devs) == 0:
		fmt.Fprintln(w, "audio: no sound card; calls can use --mic file:PATH.wav|tone:HZ|silence and --speaker file:PATH.wav|null")
	default:
		for _, d := range devs {
			fmt.Fprintf(w, "audio: %q (%s, %d in, %d out)\n", d.Name, d.HostAPI, d.InputChannels, d.OutputChannels)
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", report.Verdict())
	return nil
}

// checkDirectory logs in when a user is known (the real test) and returns
// the ICE servers the directory hands out; otherwise it only connects to
// the directory's port.
func checkDirectory(ctx context.Context, w io.Writer, o *clientOptions) []nat.ICEServer {
	if o.user != "" {
		log, err := o.logger()
		if err == nil {
			client, cerr := connect(ctx, o, log)
			if err = cerr; err == nil {
				defer client.Close()
				fmt.Fprintf(w, "directory %s: reachable, logged in as %s\n", o.directory, o.user)
				ictx, cancel := context.WithTimeout(ctx, dialTimeout)
				defer cancel()
				servers, _, err := client.ICEServers(ictx)
				if err != nil {
					fmt.Fprintf(w, "directory %s: no ICE servers: %v\n", o.directory, err)
				} else {
					fmt.Fprintf(w, "directory %s: hands out %d relay(s)\n", o.directory, relayCount(servers))
				}
				return servers
			}
		}
		fmt.Fprintf(w, "directory %s: %v\n", o.directory, err)
		return nil
	}
	host := o.directory
	if u, err := url.Parse(o.directory); err == nil && u.Host != "" {
		host = u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" || u.Scheme == "wss" {
				port = "443"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
	}
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		fmt.Fprintf(w, "directory %s: unreachable: %v\n", o.directory, err)
		return nil
	}
	c.Close()
	fmt.Fprintf(w, "directory %s: reachable (give --user to try logging in and to learn its relays)\n", o.directory)
	return nil
}

// relayCount is how many relays (hosts with a TURN URL) servers name.
func relayCount(servers []nat.ICEServer) int {
	var hosts []string
	for _, s := range servers {
		if u, err := stun.ParseURI(s.URL); err == nil && u.Scheme != stun.SchemeTypeSTUN {
			hosts = appendNew(hosts, u.Host)
		}
	}
	return len(hosts)
}

// probeTargets are the host:port STUN servers (every stun: and UDP turn:
// server answers STUN) and TURN-over-TCP servers among the ICE servers.
func probeTargets(servers []nat.ICEServer) (stunServers, tcpServers []string) {
	for _, s := range servers {
		u, err := stun.ParseURI(s.URL)
		if err != nil {
			continue // resolve has validated them
		}
		hostPort := net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
		switch {
		case u.Scheme == stun.SchemeTypeTURN && u.Proto == stun.ProtoTypeTCP:
			tcpServers = appendNew(tcpServers, hostPort)
		case strings.HasPrefix(u.Scheme.String(), "stun"), u.Scheme == stun.SchemeTypeTURN:
			stunServers = appendNew(stunServers, hostPort)
		}
	}
	return stunServers, tcpServers
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
