package relayload

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v4"

	"github.com/parley-voip/parley/nat"
)

// Server is a TURN server process on loopback, relaying to loopback peers.
type Server struct {
	Addr   string // UDP (and TCP) host:port
	Secret string // its TURN REST secret
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartParley runs 'parley supernode' from the parley binary at bin.
func StartParley(ctx context.Context, bin string) (*Server, error) {
	s := &Server{Secret: newSecret()}
	cmd := exec.CommandContext(ctx, bin, "supernode", "--listen", "127.0.0.1:0", "--public-ip", "127.0.0.1",
		"--auth-secret", s.Secret, "--allow-peer", "127.0.0.0/8", "--log-level", "error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := s.start(cmd); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		// "supernode listening on udp HOST:PORT tcp HOST:PORT"
		if rest, ok := strings.CutPrefix(sc.Text(), "supernode listening on udp "); ok {
			s.Addr, _, _ = strings.Cut(rest, " ")
			go func() {
				for sc.Scan() {
				}
			}()
			return s, nil
		}
	}
	s.Close()
	return nil, errors.New("relayload: parley supernode exited before listening")
}

// StartCoturn runs Debian's turnserver with the TURN REST secret scheme
// (use-auth-secret), on the same relay port range as the supernode.
func StartCoturn(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		return nil, fmt.Errorf("relayload: coturn is not installed (Debian package coturn): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Secret: newSecret(), Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	cmd := exec.CommandContext(ctx, bin, "-n", "--listening-ip", "127.0.0.1", "--listening-port", strconv.Itoa(port),
		"--relay-ip", "127.0.0.1", "--use-auth-secret", "--static-auth-secret", s.Secret, "--realm", "parley",
		"--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--min-port", "61001", "--max-port", "65535",
		"--no-stdout-log", "--log-file", "/dev/null", "--simple-log", "--pidfile", "", "--no-software-attribute")
	if err := s.start(cmd); err != nil {
		return nil, err
	}
	if err := s.awaitSTUN(ctx, 10*time.Second); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(cmd *exec.Cmd) error {
	s.cmd, s.done = cmd, make(chan struct{})
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("relayload: start %s: %w", cmd.Path, err)
	}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	return nil
}

// awaitSTUN waits until the server answers a STUN binding request.
func (s *Server) awaitSTUN(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: s.Addr, Conn: conn, RTO: 100 * time.Millisecond, LoggerFactory: quietLogs{}})
		if err == nil {
			if err = c.Listen(); err == nil {
				_, err = c.SendBindingRequest()
			}
			c.Close()
		}
		conn.Close()
		switch {
		case err == nil:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("relayload: %s did not answer STUN within %v: %w", s.Addr, timeout, err)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		select {
		case <-s.done:
			return errors.New("relayload: the TURN server exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CPU returns the CPU time (user and system) the server has used so far.
func (s *Server) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("relayload: server CPU: %w", err)
	}
	// Fields after the command name (which may hold spaces) in ")";
	// utime and stime are the 14th and 15th fields, in clock ticks.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("relayload: short /proc stat")
	}
	ut, err1 := strconv.ParseUint(fields[11], 10, 64)
	st, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("relayload: /proc stat: %w", err)
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond, nil
}

// Close stops the server.
func (s *Server) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

func newSecret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort finds a port free on loopback for both UDP and TCP (a small
// race with other programs is accepted: this is a benchmark harness).
func freePort() (int, error) {
	for range 10 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("relayload: no free port")
}

// Credentials makes TURN credentials for the server, for clients other
// than the load generator (an interop call through coturn, say).
func (s *Server) Credentials(user string) (username, password string) {
	return nat.TURNCredentials(s.Secret, user, time.Now(), time.Hour)
}
