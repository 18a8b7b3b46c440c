//! RFC 7541 Appendix C, every example, through shadowtap-h2's HPACK layer (the decoder crate
//! plus the structural checks and list sizes). C.5 and C.6 run with a 256-byte table, which
//! the blocks announce with a dynamic table size update as an encoder must (§4.2): that is
//! how shadowtap learns a table size it cannot read from the server's SETTINGS.

use shadowtap_h2::hpack::{HpackDecoder, HpackError};
use shadowtap_h2::Field;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Vec<Field> {
    list.iter()
        .map(|(n, v)| Field::new(n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn run(d: &mut HpackDecoder, block: &[u8], want: &[(&str, &str)], case: &str) {
    let got = d
        .decode(block, usize::MAX)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(got.fields, fields(want), "{case}");
    let size: usize = want.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    assert_eq!(got.list_size, size, "{case}: header list size");
}

#[test]
fn c2_single_representations() {
    let mut d = HpackDecoder::new(4096);
    run(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        &[("custom-key", "custom-header")],
        "C.2.1",
    );
    let mut d = HpackDecoder::new(4096);
    run(
        &mut d,
        &hex("040c 2f73 616d 706c 652f 7061 7468"),
        &[(":path", "/sample/path")],
        "C.2.2",
    );
    // Nothing was indexed: index 62 does not exist.
    assert!(matches!(
        d.decode(&[0xbe], usize::MAX),
        Err(HpackError::Invalid(_))
    ));
    let mut d = HpackDecoder::new(4096);
    run(
        &mut d,
        &hex("1008 7061 7373 776f 7264 0673 6563 7265 74"),
        &[("password", "secret")],
        "C.2.3",
    );
    let mut d = HpackDecoder::new(4096);
    run(&mut d, &hex("82"), &[(":method", "GET")], "C.2.4");
}

const C3_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const C3_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const C3_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn c3_requests_without_huffman() {
    let mut d = HpackDecoder::new(4096);
    run(
        &mut d,
        &hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
        C3_1,
        "C.3.1",
    );
    assert_eq!(d.table_size(), 57, "C.3.1 table size");
    run(
        &mut d,
        &hex("8286 84be 5808 6e6f 2d63 6163 6865"),
        C3_2,
        "C.3.2",
    );
    assert_eq!(d.table_size(), 110, "C.3.2 table size");
    run(
        &mut d,
        &hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"),
        C3_3,
        "C.3.3",
    );
    assert_eq!(d.table_size(), 164, "C.3.3 table size");
}

#[test]
fn c4_requests_with_huffman() {
    let mut d = HpackDecoder::new(4096);
    run(
        &mut d,
        &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        C3_1,
        "C.4.1",
    );
    run(&mut d, &hex("8286 84be 5886 a8eb 1064 9cbf"), C3_2, "C.4.2");
    run(
        &mut d,
        &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
        C3_3,
        "C.4.3",
    );
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

fn c5_c6_lists() -> [Vec<(&'static str, &'static str)>; 3] {
    [
        vec![
            (":status", "302"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOC),
        ],
        vec![
            (":status", "307"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOC),
        ],
        vec![
            (":status", "200"),
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", LOC),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ],
    ]
}

/// A size update to 256 bytes (`001` prefix, 5-bit integer 256 = 31 + 225).
const TO_256: [u8; 3] = [0x3f, 0xe1, 0x01];

fn with_update(block: Vec<u8>) -> Vec<u8> {
    [TO_256.to_vec(), block].concat()
}

fn c5_blocks() -> [Vec<u8>; 3] {
    [
        hex(
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
             6c65 2e63 6f6d",
        ),
        hex("4803 3330 37c1 c0bf"),
        hex(
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
             3d31",
        ),
    ]
}

fn c6_blocks() -> [Vec<u8>; 3] {
    [
        hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        ),
        hex("4883 640e ffc1 c0bf"),
        hex(
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ),
    ]
}

#[test]
fn c5_responses_without_huffman_256_byte_table() {
    let mut d = HpackDecoder::new(4096);
    let [b1, b2, b3] = c5_blocks();
    let [l1, l2, l3] = c5_c6_lists();
    run(&mut d, &with_update(b1), &l1, "C.5.1");
    assert_eq!(d.table_size(), 222, "C.5.1 table size");
    run(&mut d, &b2, &l2, "C.5.2");
    assert_eq!(d.table_size(), 222, "C.5.2 table size");
    run(&mut d, &b3, &l3, "C.5.3");
    assert_eq!(d.table_size(), 215, "C.5.3 table size");
}

#[test]
fn c6_responses_with_huffman_256_byte_table() {
    let mut d = HpackDecoder::new(4096);
    let [b1, b2, b3] = c6_blocks();
    let [l1, l2, l3] = c5_c6_lists();
    run(&mut d, &with_update(b1), &l1, "C.6.1");
    assert_eq!(d.table_size(), 222, "C.6.1 table size");
    run(&mut d, &b2, &l2, "C.6.2");
    assert_eq!(d.table_size(), 222, "C.6.2 table size");
    run(&mut d, &b3, &l3, "C.6.3");
    assert_eq!(d.table_size(), 215, "C.6.3 table size");
}

/// Size updates are followed: one to 0 empties the table, so the entry C.3.1 indexed is gone.
#[test]
fn a_size_update_to_zero_empties_the_table() {
    let block = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    let mut d = HpackDecoder::new(4096);
    run(&mut d, &block, C3_1, "C.3.1");
    run(
        &mut d,
        &[0xbe],
        &[(":authority", "www.example.com")],
        "index 62",
    );
    assert_eq!(d.table_size(), 57);
    // Down to 0 and back up to 4 096 in one block: the table is empty all the same.
    run(
        &mut d,
        &[0x20, 0x3f, 0xe1, 0x1f, 0x82],
        &[(":method", "GET")],
        "0 then 4096",
    );
    assert_eq!(d.table_size(), 0);
    run(&mut d, &block, C3_1, "C.3.1 again");
    assert_eq!(d.table_size(), 57);
    assert!(matches!(
        d.decode(&[0x20, 0xbe], usize::MAX),
        Err(HpackError::Invalid(_))
    ));
}

#[test]
fn every_truncation_of_every_example_is_an_error_never_a_panic() {
    let mut blocks: Vec<Vec<u8>> = vec![
        hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
        hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
    ];
    // The first block of each sequence: the later ones index entries the first made.
    let [c5, ..] = c5_blocks();
    let [c6, ..] = c6_blocks();
    blocks.push(with_update(c5));
    blocks.push(with_update(c6));
    for b in &blocks {
        for cut in 1..b.len() {
            let mut d = HpackDecoder::new(4096);
            // A cut inside a representation is an error; a cut between two is a shorter,
            // valid block. Either way: no panic, and a valid prefix decodes to a prefix.
            if let Ok(prefix) = d.decode(&b[..cut], usize::MAX) {
                let mut full = HpackDecoder::new(4096);
                let all = full.decode(b, usize::MAX).expect("whole block");
                assert!(all.fields.starts_with(&prefix.fields), "cut at {cut}");
            }
        }
    }
}
