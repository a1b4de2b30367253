package ui

import (
	"math"
	"time"
)

// E-model constants (ITU-T G.107 (06/2015)). The UI knows a call's delay and
// loss but not its handsets, so every other parameter keeps its G.107
// default, whose sum is the basic R of 93.2; echo (Idte, Idle) is left out,
// as Parley's terminals are headsets or echo-cancelled.
const (
	rBasic = 93.2 // Ro − Is − A with G.107's default values (Table 3)
	// Opus is transparent on G.107's narrowband scale at Parley's bitrates
	// (Ie 0); its loss robustness is taken as G.113's for G.711 with
	// packet loss concealment (Bpl 25.1), a conservative stand-in since
	// G.113 lists no Opus figure.
	opusIe  = 0
	opusBpl = 25.1
)

// MOS estimates a call's mean opinion score (1–4.5) from its one-way
// mouth-to-ear delay and its packet loss in percent, by the E-model of
// ITU-T G.107: R = 93.2 − Idd(delay) − Ie,eff(loss), mapped to MOS by
// G.107 Annex B. Loss is taken as random (BurstR 1).
func MOS(oneWay time.Duration, lossPct float64) float64 {
	lossPct = math.Max(0, math.Min(lossPct, 100))
	ieEff := opusIe + (95-opusIe)*lossPct/(lossPct+opusBpl) // G.107 §7.5, eq. 7-29 with BurstR 1
	return mosFromR(rBasic - delayImpairment(oneWay) - ieEff)
}

// delayImpairment is G.107's Idd (§7.4, eq. 7-28): nothing up to 100 ms of
// absolute delay, then a curve that passes 4 at 230 ms and 24 at 400 ms.
func delayImpairment(ta time.Duration) float64 {
	ms := float64(ta) / float64(time.Millisecond)
	if ms <= 100 {
		return 0
	}
	x := math.Log2(ms / 100)
	return 25 * (math.Pow(1+math.Pow(x, 6), 1.0/6) - 3*math.Pow(1+math.Pow(x/3, 6), 1.0/6) + 2)
}

// mosFromR is G.107 Annex B (eq. B-4).
func mosFromR(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
}
