// A two-party call through a LiveKit SFU, placed with LiveKit's own Go SDK: the listener joins
// first and counts the RTP packets of every audio track it gets; the speaker joins, publishes an
// Opus track and sends a 20 ms frame every 20 ms. Prints what it saw as one JSON line.
//
//	livekit-client -url wss://rtc.example.test -listener-token … -speaker-token …
//
// The SFU's TLS certificate is checked against the system roots, or SSL_CERT_FILE.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// onAudioPacket is a subscription callback that reads each audio track it is given and calls
// packet, with the speaker's identity, for every RTP packet that arrives.
func onAudioPacket(packet func(speaker string)) func(*webrtc.TrackRemote, *lksdk.RemoteTrackPublication, *lksdk.RemoteParticipant) {
	return func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		if track.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		go func() {
			for {
				if _, _, err := track.ReadRTP(); err != nil {
					return
				}
				packet(rp.Identity())
			}
		}()
	}
}

// Options every participant connects with (-relay adds the relay-only ICE policy).
var connectOptions []lksdk.ConnectOption

// An Opus frame of silence (TOC 0xf8: CELT, 20 ms, mono): the SFU forwards RTP, it decodes nothing.
var silence = []byte{0xf8, 0xff, 0xfe}

type result struct {
	// From the speaker's join to the listener's first audio packet.
	FirstPacketMs int64 `json:"firstPacketMs"`
	// When the first packet arrived (Unix ms), for timings that start before this program.
	FirstPacketAt int64 `json:"firstPacketAt"`
	FramesSent    int   `json:"framesSent"`
	// Frames sent once the listener had heard the first: each of these should arrive.
	FramesSentSinceHeard int `json:"framesSentSinceHeard"`
	PacketsHeard         int `json:"packetsHeard"`
	// The identity the SFU gave the speaker's track, as the listener saw it.
	SpeakerIdentity string `json:"speakerIdentity"`
	// When each step was done (Unix ms): this program started, the listener and the speaker had
	// joined (signalling and media connection up), the speaker's track was bound. With
	// FirstPacketAt they say where a slow call setup spent its time.
	StartedAt        int64  `json:"startedAt"`
	ListenerJoinedAt int64  `json:"listenerJoinedAt"`
	SpeakerJoinedAt  int64  `json:"speakerJoinedAt"`
	TrackBoundAt     int64  `json:"trackBoundAt"`
	Error            string `json:"error,omitempty"`
}

// When this program started (Unix ms).
var startedAt = time.Now().UnixMilli()

func main() {
	url := flag.String("url", "", "the SFU's WebSocket URL (wss://… or ws://…)")
	listenerToken := flag.String("listener-token", "", "LiveKit token of the party that listens")
	speakerToken := flag.String("speaker-token", "", "LiveKit token of the party that speaks")
	seconds := flag.Float64("seconds", 3, "how long the speaker speaks")
	want := flag.Int("want", 50, "packets the listener must hear")
	relay := flag.Bool("relay", false, "media through the TURN servers the SFU names only (ICE transport policy relay), as behind a strict NAT")
	group := flag.String("group", "", "comma-separated tokens: a group call, everyone speaking and hearing everyone (instead of -listener-token/-speaker-token)")
	flag.Parse()

	if *relay {
		connectOptions = append(connectOptions, lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay))
	}
	if *group != "" {
		out := groupCall(*url, strings.Split(*group, ","), time.Duration(*seconds*float64(time.Second)), *want)
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
		if out.Error != "" {
			os.Exit(1)
		}
		return
	}
	out := run(*url, *listenerToken, *speakerToken, time.Duration(*seconds*float64(time.Second)), *want)
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
	if out.Error != "" {
		os.Exit(1)
	}
}

type groupResult struct {
	Participants int `json:"participants"`
	// For each listener, how many packets it heard from each other participant (by identity).
	Heard map[string]map[string]int `json:"heard"`
	// The fewest packets any participant heard from any other.
	FewestHeard int    `json:"fewestHeard"`
	Error       string `json:"error,omitempty"`
}

// groupCall: every token joins, publishes an Opus track and subscribes to everyone else's; each
// speaks for `speak`. "call up" goes to stderr once everyone has heard everyone, so a caller
// can measure the SFU while the call runs.
func groupCall(url string, tokens []string, speak time.Duration, want int) (out groupResult) {
	out.Participants = len(tokens)
	var mu sync.Mutex
	out.Heard = map[string]map[string]int{}
	pairs := len(tokens) * (len(tokens) - 1)
	up := make(chan struct{})
	var rooms []*lksdk.Room
	defer func() {
		for _, room := range rooms {
			room.Disconnect()
		}
	}()
	for i, token := range tokens {
		me := fmt.Sprintf("participant %d", i)
		callback := lksdk.NewRoomCallback()
		callback.ParticipantCallback.OnTrackSubscribed = onAudioPacket(func(speaker string) {
			mu.Lock()
			defer mu.Unlock()
			if out.Heard[me] == nil {
				out.Heard[me] = map[string]int{}
			}
			out.Heard[me][speaker]++
			if out.Heard[me][speaker] == 1 {
				pairs--
				if pairs == 0 {
					close(up)
				}
			}
		})
		room, err := lksdk.ConnectToRoomWithToken(url, token, callback, append(connectOptions, lksdk.WithAutoSubscribe(true))...)
		if err != nil {
			out.Error = fmt.Sprintf("%s: join: %v", me, err)
			return out
		}
		rooms = append(rooms, room)
		track, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
		if err != nil {
			out.Error = fmt.Sprintf("%s: track: %v", me, err)
			return out
		}
		track.OnBind(func() {
			go func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for end := time.Now().Add(speak); time.Now().Before(end); <-tick.C {
					_ = track.WriteSample(media.Sample{Data: silence, Duration: 20 * time.Millisecond}, nil)
				}
			}()
		})
		if _, err := room.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{Name: "microphone"}); err != nil {
			out.Error = fmt.Sprintf("%s: publish: %v", me, err)
			return out
		}
	}
	select {
	case <-up:
		fmt.Fprintln(os.Stderr, "call up")
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		out.Error = fmt.Sprintf("not everyone heard everyone within 30 s: %v", out.Heard)
		return out
	}
	time.Sleep(speak)
	mu.Lock()
	defer mu.Unlock()
	out.FewestHeard = -1
	for _, from := range out.Heard {
		for _, n := range from {
			if out.FewestHeard < 0 || n < out.FewestHeard {
				out.FewestHeard = n
			}
		}
	}
	if out.FewestHeard < want {
		out.Error = fmt.Sprintf("someone heard only %d packets from someone (wanted %d): %v", out.FewestHeard, want, out.Heard)
	}
	return out
}

func run(url, listenerToken, speakerToken string, speak time.Duration, want int) (out result) {
	out.StartedAt = startedAt
	fail := func(format string, args ...any) result {
		out.Error = fmt.Sprintf(format, args...)
		return out
	}
	if url == "" || listenerToken == "" || speakerToken == "" {
		return fail("need -url, -listener-token and -speaker-token")
	}

	// What the listener's reader sees, guarded by mu.
	var mu sync.Mutex
	var joined time.Time
	var packets int
	var firstPacketMs, firstPacketAt int64
	var speakerIdentity string
	heard := make(chan struct{}, 1)
	listenerCallback := lksdk.NewRoomCallback()
	listenerCallback.ParticipantCallback.OnTrackSubscribed = onAudioPacket(func(speaker string) {
		mu.Lock()
		defer mu.Unlock()
		packets++
		if packets == 1 {
			firstPacketMs = time.Since(joined).Milliseconds()
			firstPacketAt = time.Now().UnixMilli()
			speakerIdentity = speaker
		}
		if packets == want {
			heard <- struct{}{}
		}
	})
	listener, err := lksdk.ConnectToRoomWithToken(url, listenerToken, listenerCallback, append(connectOptions, lksdk.WithAutoSubscribe(true))...)
	if err != nil {
		return fail("listener: join: %v", err)
	}
	defer listener.Disconnect()

	mu.Lock()
	joined = time.Now()
	out.ListenerJoinedAt = joined.UnixMilli()
	mu.Unlock()
	speaker, err := lksdk.ConnectToRoomWithToken(url, speakerToken, lksdk.NewRoomCallback(), append(connectOptions, lksdk.WithAutoSubscribe(false))...)
	if err != nil {
		return fail("speaker: join: %v", err)
	}
	defer speaker.Disconnect()
	mu.Lock()
	out.SpeakerJoinedAt = time.Now().UnixMilli()
	mu.Unlock()
	track, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		return fail("speaker: track: %v", err)
	}
	// Frames written before the track is bound to the connection are dropped: speak once it is.
	done := make(chan int, 1)
	sinceHeard := 0
	track.OnBind(func() {
		mu.Lock()
		out.TrackBoundAt = time.Now().UnixMilli()
		mu.Unlock()
		go func() {
			frames := 0
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for end := time.Now().Add(speak); time.Now().Before(end); <-tick.C {
				if track.WriteSample(media.Sample{Data: silence, Duration: 20 * time.Millisecond}, nil) == nil {
					frames++
					mu.Lock()
					if packets > 0 {
						sinceHeard++
					}
					mu.Unlock()
				}
			}
			done <- frames
		}()
	})
	if _, err := speaker.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{Name: "microphone"}); err != nil {
		return fail("speaker: publish: %v", err)
	}

	select {
	case out.FramesSent = <-done:
	case <-time.After(speak + 30*time.Second):
		return fail("speaker: its track was never bound to the connection")
	}
	select {
	case <-heard:
	case <-time.After(5 * time.Second):
	}
	// The last frames still on their way.
	time.Sleep(time.Second)
	mu.Lock()
	out.PacketsHeard, out.FirstPacketMs, out.FirstPacketAt, out.SpeakerIdentity = packets, firstPacketMs, firstPacketAt, speakerIdentity
	out.FramesSentSinceHeard = sinceHeard
	mu.Unlock()
	if out.PacketsHeard < want {
		out.Error = fmt.Sprintf("the listener heard %d packets of %d frames sent (wanted %d)", out.PacketsHeard, out.FramesSent, want)
	}
	return out
}
