//! Property tests of the frame codec (arbitrary splits and packings
//! reassemble) and random-input smoke tests of every decoder of this layer
//! (frames, intro, handshake messages, certificate chains).

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wa_proto::cert::{CertChainBuilder, TrustedRoot, verify_cert_chain};
use wa_proto::frame::{ClientIntro, FrameDecoder, FrameEncoder, FrameError, parse_client_intro};
use wa_proto::noise::{ClientHandshake, ServerHandshake};
use wa_signal::KeyPair;

/// Cuts `wire` at the given (sorted, deduplicated) points.
fn split_at_points(wire: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(wire[last..p].to_vec());
        last = p;
    }
    out.push(wire[last..].to_vec());
    out
}

proptest! {
    #[test]
    fn client_stream_reassembles_under_any_split(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..8),
        routing in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut enc = match &routing {
            Some(r) => FrameEncoder::with_routing_info(r.clone()).unwrap(),
            None => FrameEncoder::new(),
        };
        let mut wire = Vec::new();
        for p in &payloads {
            enc.encode_into(p, &mut wire).unwrap();
        }
        let mut dec = FrameDecoder::server();
        let mut got = Vec::new();
        for chunk in split_at_points(&wire, &cuts) {
            dec.push(&chunk);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        prop_assert_eq!(got, payloads.clone());
        prop_assert_eq!(dec.buffered_len(), 0);
        if !payloads.is_empty() {
            let intro = dec.intro().unwrap();
            prop_assert_eq!(intro.dict_version, 3);
            prop_assert_eq!(&intro.routing_info, &routing);
        }
    }

    #[test]
    fn server_stream_reassembles_under_any_split(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut enc = FrameEncoder::server();
        let mut wire = Vec::new();
        for p in &payloads {
            wire.extend(enc.encode(p).unwrap());
        }
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for chunk in split_at_points(&wire, &cuts) {
            dec.push(&chunk);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn intro_roundtrip(
        dict_version in any::<u8>(),
        routing in prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
        tail in prop::collection::vec(any::<u8>(), 0..10),
    ) {
        let intro = ClientIntro { dict_version, routing_info: routing };
        let mut bytes = intro.to_bytes().unwrap();
        let len = bytes.len();
        // Every strict prefix asks for more bytes, never errors.
        for n in 0..len {
            prop_assert_eq!(parse_client_intro(&bytes[..n], 1 << 20), Ok(None));
        }
        bytes.extend_from_slice(&tail);
        prop_assert_eq!(parse_client_intro(&bytes, 1 << 20), Ok(Some((intro, len))));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_respect_the_limit(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        max in 0usize..300,
        server in any::<bool>(),
    ) {
        let mut dec = if server { FrameDecoder::server() } else { FrameDecoder::new() }.max_frame_size(max);
        dec.push(&bytes);
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => prop_assert!(f.len() <= max),
                Ok(None) => break,
                Err(FrameError::Oversize { len, max: m }) => {
                    prop_assert!(len > m);
                    // The decoder stays failed.
                    prop_assert!(dec.next_frame().is_err());
                    break;
                }
                Err(_) => {
                    prop_assert!(dec.next_frame().is_err());
                    break;
                }
            }
        }
    }
}

/// Decodes `data` pushed in pieces of `step` bytes: frames until the first error.
fn decode_in_steps(
    data: &[u8],
    server: bool,
    max: usize,
    step: usize,
) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut dec = if server {
        FrameDecoder::server()
    } else {
        FrameDecoder::new()
    }
    .max_frame_size(max);
    let mut frames = Vec::new();
    for chunk in data.chunks(step.max(1)) {
        dec.push(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

proptest! {
    /// The invariants the `frame_decode` fuzz target asserts: the split does
    /// not change the frames or the kind of error, and frames re-encode to
    /// the bytes they came from.
    #[test]
    fn split_does_not_change_the_result(
        data in prop::collection::vec(any::<u8>(), 0..1500),
        server in any::<bool>(),
        max in prop::option::of(0usize..400),
        step in 1usize..40,
    ) {
        let max = max.unwrap_or(wa_proto::frame::MAX_FRAME_SIZE);
        let whole = decode_in_steps(&data, server, max, data.len());
        let split = decode_in_steps(&data, server, max, step);
        prop_assert_eq!(&whole.0, &split.0);
        prop_assert_eq!(
            whole.1.as_ref().map(std::mem::discriminant),
            split.1.as_ref().map(std::mem::discriminant)
        );
        if !server && whole.1.is_none() {
            let mut re = Vec::new();
            for f in &whole.0 {
                re.extend(wa_proto::frame::encode_frame(f).unwrap());
            }
            prop_assert_eq!(&data[..re.len()], &re[..]);
        }
    }

    /// Valid intro-prefixed streams (biased inputs) under arbitrary splits.
    #[test]
    fn intro_prefixed_garbage_split_invariant(
        routing in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
        rest in prop::collection::vec(any::<u8>(), 0..300),
        step in 1usize..10,
    ) {
        let intro = ClientIntro { dict_version: 3, routing_info: routing };
        let mut data = intro.to_bytes().unwrap();
        data.extend_from_slice(&rest);
        let whole = decode_in_steps(&data, true, 100, data.len());
        let split = decode_in_steps(&data, true, 100, step);
        prop_assert_eq!(&whole.0, &split.0);
        prop_assert_eq!(whole.1, split.1);
    }
}

#[test]
fn random_input_smoke() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let root = KeyPair::generate(&mut rng);
    let intermediate = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let client_static = KeyPair::generate(&mut rng);
    let chain = CertChainBuilder::new(0, u64::MAX).mint(
        &root.private,
        &intermediate,
        &server_static.public,
        &mut rng,
    );
    let trust = TrustedRoot::new(*root.public.as_djb());
    let mut errors = 0usize;
    for i in 0..3000 {
        let len = rng.gen_range(0..400);
        let mut input: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        // Bias some inputs towards valid prefixes so deeper paths run.
        match i % 4 {
            0 if !input.is_empty() => input[0] = 0x1a, // serverHello field tag
            1 if !input.is_empty() => input[0] = 0x12, // clientHello field tag
            2 if !input.is_empty() => input[0] = 0x22, // clientFinish field tag
            _ => {}
        }

        let mut dec = FrameDecoder::server().max_frame_size(256);
        dec.push(&input);
        while let Ok(Some(_)) = dec.next_frame() {}

        let client = ClientHandshake::new(client_static.clone(), trust, &mut rng);
        errors += usize::from(client.read_server_hello(&input, 1).is_err());

        let server = ServerHandshake::new(server_static.clone(), chain.clone());
        match server.read_client_hello(&input, &mut rng) {
            Ok(s) => {
                errors += usize::from(s.read_client_finish(&input).is_err());
            }
            Err(_) => errors += 1,
        }
        errors += usize::from(
            verify_cert_chain(&input, &trust, server_static.public.as_djb(), 1).is_err(),
        );
    }
    // Random bytes are (overwhelmingly) rejected, and nothing panicked.
    assert!(errors >= 3 * 3000 - 50, "errors = {errors}");
}
