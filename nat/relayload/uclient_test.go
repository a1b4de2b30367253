package relayload

import "testing"

func TestParseUclient(t *testing.T) {
	out := []byte(`32: : start_mclient: msz=200, tot_send_msgs=47166, tot_recv_msgs=47149, tot_send_bytes ~ 5659920, tot_recv_bytes ~ 5657880
33: : start_mclient: tot_send_msgs=50000, tot_recv_msgs=49800
33: : start_mclient: tot_send_bytes ~ 6000000, tot_recv_bytes ~ 5976000
33: : Total transmit time is 11
33: : Total lost packets 200 (0.400000%), total send dropped 0 (0.000000%)
33: : Average round trip delay 0.063540 ms; min = 0 ms, max = 15 ms
33: : Average jitter 0.657220 ms; min = 0 ms, max = 16 ms
`)
	r, err := parseUclient(out, 200)
	if err != nil {
		t.Fatal(err)
	}
	if r.PacketsSent != 50000 || r.PacketsReceived != 49800 || r.LossPct != 0.4 || r.LatencyP50MS != 0.06354 || r.Calls != 200 {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parseUclient([]byte("0: : error 437 ()\n"), 1); err == nil {
		t.Error("output without a summary parsed")
	}
}
