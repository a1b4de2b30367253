package directory_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voip/parley/directory"
)

// TestIdleSessionHoldsOneSmallGoroutine guards what an idle client costs
// the directory: one goroutine, parked on a stack that the garbage
// collector shrinks to 4 KiB (see session.awaitInput). The clients here
// are bare WebSockets with no goroutines of their own.
func TestIdleSessionHoldsOneSmallGoroutine(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	const n = 300
	for i := range n {
		d.rawDial(t).login(fmt.Sprintf("idle%04d", i), newIdentity(t))
	}
	runtime.GC() // a collection shrinks the stacks of parked goroutines
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSession := float64(runtime.NumGoroutine()-goroutines) / n
	stack := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("per idle session: %.2f goroutines, %.0f bytes of stack", perSession, stack)
	if perSession > 1.05 {
		t.Errorf("%.2f goroutines per idle session, want 1", perSession)
	}
	if stack > 6<<10 && !raceEnabled {
		t.Errorf("%.0f bytes of stack per idle session, want about 4 KiB", stack)
	}
}

// TestFrameSentWithTheHandshakeIsRead: a client that sends a frame right
// behind its upgrade request, before the answer, is read (those bytes wait
// ahead of the session's buffer, where an idle wait on the socket would
// not see them).
func TestFrameSentWithTheHandshakeIsRead(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	upgrade := "GET /v1/ws HTTP/1.1\r\nHost: directory\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write(append([]byte(upgrade), maskedTextFrame(`{"v":1,"type":"ping","id":"early"}`)...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(`"early"`)) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to the early frame (got %q): %v", got, err)
		}
		got = append(got, buf[:n]...)
	}
}

// maskedTextFrame encodes payload (under 126 bytes) as a client's text
// frame (RFC 6455 §5.2), with a zero mask.
func maskedTextFrame(payload string) []byte {
	return append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// TestServerPingsOnlyQuietClients: a client that pings the directory
// itself is not pinged too; a quiet one is, every interval.
func TestServerPingsOnlyQuietClients(t *testing.T) {
	const interval = 100 * time.Millisecond
	d := startDirectory(t, directory.ServerConfig{PingInterval: interval})
	dial := func() (*websocket.Conn, *atomic.Int32) {
		var pinged atomic.Int32
		conn, _, err := websocket.Dial(ctxTimeout(t), d.wsURL(), &websocket.DialOptions{
			OnPingReceived: func(context.Context, []byte) bool {
				pinged.Add(1)
				return true
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan struct{})
		go func() { // reads frames (the hello), answers pings and takes pongs
			defer close(read)
			for {
				if _, _, err := conn.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() {
			_ = conn.CloseNow()
			<-read
		})
		return conn, &pinged
	}
	talker, talkerPinged := dial()
	_, quietPinged := dial()
	for end := time.Now().Add(8 * interval); time.Now().Before(end); time.Sleep(interval / 3) {
		if err := talker.Ping(ctxTimeout(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := talkerPinged.Load(); n > 3 { // 8 without the rule; a loaded machine may delay a ping of the talker's
		t.Errorf("a client pinging every %v was pinged %d times", interval/3, n)
	}
	if n := quietPinged.Load(); n < 3 {
		t.Errorf("a quiet client was pinged %d times in 8 intervals, want one an interval", n)
	}
}
