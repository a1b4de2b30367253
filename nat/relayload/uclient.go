package relayload

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// RunUclient loads s with coturn's own load generator, turnutils_uclient
// (Debian coturn), as a neutral yardstick: calls allocations, each sending
// 120-byte packets every 20 ms to an echo peer (turnutils_peer) for
// duration, so both directions cross the relay. Only the fields uclient
// reports are filled in; its mean round trip goes in LatencyP50MS.
func RunUclient(ctx context.Context, s *Server, calls int, duration time.Duration) (Result, error) {
	for _, tool := range []string{"turnutils_uclient", "turnutils_peer"} {
		if _, err := exec.LookPath(tool); err != nil {
			return Result{}, fmt.Errorf("relayload: %s is not installed (Debian package coturn): %w", tool, err)
		}
	}
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return Result{}, fmt.Errorf("relayload: %w", err)
	}
	peerPort, err := freePort()
	if err != nil {
		return Result{}, err
	}
	peerCtx, stopPeer := context.WithCancel(ctx)
	defer stopPeer()
	peer := exec.CommandContext(peerCtx, "turnutils_peer", "-L", host, "-p", strconv.Itoa(peerPort))
	if err := peer.Start(); err != nil {
		return Result{}, fmt.Errorf("relayload: turnutils_peer: %w", err)
	}
	defer peer.Wait()

	messages := int(duration / (20 * time.Millisecond))
	out, err := exec.CommandContext(ctx, "turnutils_uclient", "-m", strconv.Itoa(calls), "-n", strconv.Itoa(messages),
		"-l", "120", "-z", "20", "-c", "-e", host, "-r", strconv.Itoa(peerPort), "-W", s.Secret, "-u", "load",
		"-p", port, host).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("relayload: turnutils_uclient: %v: %s", err, lastLines(out, 5))
	}
	return parseUclient(out, calls)
}

var (
	uclientTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$`)
	uclientLost   = regexp.MustCompile(`Total lost packets \d+ \(([\d.]+)%\)`)
	uclientRTT    = regexp.MustCompile(`Average round trip delay ([\d.]+) ms`)
)

// parseUclient reads turnutils_uclient's closing summary.
func parseUclient(out []byte, calls int) (Result, error) {
	r := Result{Calls: calls}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := uclientTotals.FindStringSubmatch(line); m != nil {
			r.PacketsSent, _ = strconv.ParseUint(m[1], 10, 64)
			r.PacketsReceived, _ = strconv.ParseUint(m[2], 10, 64)
			found |= 1
		}
		if m := uclientLost.FindStringSubmatch(line); m != nil {
			r.LossPct, _ = strconv.ParseFloat(m[1], 64)
			found |= 2
		}
		if m := uclientRTT.FindStringSubmatch(line); m != nil {
			r.LatencyP50MS, _ = strconv.ParseFloat(m[1], 64)
			found |= 4
		}
	}
	if found != 7 {
		return r, fmt.Errorf("relayload: turnutils_uclient printed no summary: %s", lastLines(out, 5))
	}
	return r, nil
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return bytes.Join(lines[max(0, len(lines)-n):], []byte("\n"))
}
