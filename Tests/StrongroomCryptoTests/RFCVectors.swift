// Published known-answer test vectors, copied from the specifications that define them.
//
// Every byte string is lowercase hex with no separators; an empty string is zero bytes. Values that the
// specifications print across several lines (or in groups) are concatenated here without spaces. Only inputs
// and final outputs are kept; intermediate values the specifications also print (POLYVAL state, derived
// record keys, key-wrap intermediate steps) are left out.
//
// Sources:
//   RFC 3394, Section 4    AES Key Wrap test vectors 4.1-4.6
//   RFC 8452, Appendix C.2 AEAD_AES_256_GCM_SIV test vectors; Appendix C.3 counter-wrap tests (AES-256)
//   RFC 8032, Section 7.1  Ed25519 TEST 1, TEST 2, TEST 3
//   RFC 4231, Section 4    HMAC-SHA-256 results of Test Cases 1-7
//   McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, Test Cases 13-16
//   (AES-256, 96-bit IV); the same AES-GCM test cases are the ones commonly cited for NIST SP 800-38D.

enum RFCVectors {
    /// An AES Key Wrap (RFC 3394) known answer.
    ///
    /// `wrapped` is the 64-bit integrity block followed by the wrapped key data, as printed under
    /// "Output: Ciphertext".
    struct KeyWrapCase: Sendable {
        let name: String
        let kek: String
        let keyData: String
        let wrapped: String
    }

    /// An AES-256-GCM-SIV (RFC 8452) known answer.
    ///
    /// `result` is the ciphertext followed by the 16-byte tag, as printed under "Result".
    struct GCMSIVCase: Sendable {
        let name: String
        let key: String
        let nonce: String
        let aad: String
        let plaintext: String
        let result: String
    }

    /// An Ed25519 (RFC 8032) known answer.
    ///
    /// `secretKey` is the 32-byte private seed printed under "SECRET KEY".
    struct Ed25519Case: Sendable {
        let name: String
        let secretKey: String
        let publicKey: String
        let message: String
        let signature: String
    }

    /// An HMAC-SHA-256 (RFC 4231) known answer.
    ///
    /// When `truncatedBytes` is set, `mac` is only the leftmost `truncatedBytes` bytes of the full 32-byte
    /// HMAC, as the test case publishes it.
    struct HMACCase: Sendable {
        let name: String
        let key: String
        let data: String
        let mac: String
        let truncatedBytes: Int?
    }

    /// An AES-GCM known answer with a 96-bit IV and a 128-bit tag.
    struct GCMCase: Sendable {
        let name: String
        let key: String
        let iv: String
        let aad: String
        let plaintext: String
        let ciphertext: String
        let tag: String
    }

    /// RFC 3394, Section 4: the six AES Key Wrap test vectors.
    ///
    /// All use the default initial value A6A6A6A6A6A6A6A6.
    static let keyWrap: [KeyWrapCase] = [
        // RFC 3394, Section 4.1: Wrap 128 bits of Key Data with a 128-bit KEK
        KeyWrapCase(
            name: "RFC 3394 4.1",
            kek: "000102030405060708090a0b0c0d0e0f",
            keyData: "00112233445566778899aabbccddeeff",
            wrapped: "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"
        ),
        // RFC 3394, Section 4.2: Wrap 128 bits of Key Data with a 192-bit KEK
        KeyWrapCase(
            name: "RFC 3394 4.2",
            kek: "000102030405060708090a0b0c0d0e0f1011121314151617",
            keyData: "00112233445566778899aabbccddeeff",
            wrapped: "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d"
        ),
        // RFC 3394, Section 4.3: Wrap 128 bits of Key Data with a 256-bit KEK
        KeyWrapCase(
            name: "RFC 3394 4.3",
            kek: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            keyData: "00112233445566778899aabbccddeeff",
            wrapped: "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"
        ),
        // RFC 3394, Section 4.4: Wrap 192 bits of Key Data with a 192-bit KEK
        KeyWrapCase(
            name: "RFC 3394 4.4",
            kek: "000102030405060708090a0b0c0d0e0f1011121314151617",
            keyData: "00112233445566778899aabbccddeeff0001020304050607",
            wrapped: "031d33264e15d33268f24ec260743edce1c6c7ddee725a936ba814915c6762d2"
        ),
        // RFC 3394, Section 4.5: Wrap 192 bits of Key Data with a 256-bit KEK
        KeyWrapCase(
            name: "RFC 3394 4.5",
            kek: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            keyData: "00112233445566778899aabbccddeeff0001020304050607",
            wrapped: "a8f9bc1612c68b3ff6e6f4fbe30e71e4769c8b80a32cb8958cd5d17d6b254da1"
        ),
        // RFC 3394, Section 4.6: Wrap 256 bits of Key Data with a 256-bit KEK
        KeyWrapCase(
            name: "RFC 3394 4.6",
            kek: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            keyData: "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
            wrapped: "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"
        ),
    ]

    /// RFC 8452, Appendix C.2 and C.3: the AEAD_AES_256_GCM_SIV test vectors.
    ///
    /// All Appendix C.2 vectors in document order, followed by the two Appendix C.3 counter-wrap tests,
    /// which also use AEAD_AES_256_GCM_SIV.
    static let gcmSIV256: [GCMSIVCase] = [
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 1: Plaintext (0 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #1",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "",
            plaintext: "",
            result: "07f5f4169bbf55a8400cd47ea6fd400f"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 2: Plaintext (8 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #2",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "",
            plaintext: "0100000000000000",
            result: "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 3: Plaintext (12 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #3",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "",
            plaintext: "010000000000000000000000",
            result: "9aab2aeb3faa0a34aea8e2b18ca50da9ae6559e48fd10f6e5c9ca17e"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 4: Plaintext (16 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #4",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "",
            plaintext: "01000000000000000000000000000000",
            result: "85a01b63025ba19b7fd3ddfc033b3e76c9eac6fa700942702e90862383c6c366"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 5: Plaintext (32 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #5",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "",
            plaintext: "0100000000000000000000000000000002000000000000000000000000000000",
            result: "4a6a9db4c8c6549201b9edb53006cba821ec9cf850948a7c86c68ac7539d027fe819e63abcd020b006a976397632eb5d"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 6: Plaintext (48 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #6",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "",
            plaintext: "0100000000000000000000000000000002000000000000000000000000000000"
                + "03000000000000000000000000000000",
            result: "c00d121893a9fa603f48ccc1ca3c57ce7499245ea0046db16c53c7c66fe717e3"
                + "9cf6c748837b61f6ee3adcee17534ed5790bc96880a99ba804bd12c0e6a22cc4"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 7: Plaintext (64 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #7",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "",
            plaintext: "0100000000000000000000000000000002000000000000000000000000000000"
                + "0300000000000000000000000000000004000000000000000000000000000000",
            result: "c2d5160a1f8683834910acdafc41fbb1632d4a353e8b905ec9a5499ac34f96c7"
                + "e1049eb080883891a4db8caaa1f99dd004d80487540735234e3744512c6f90ce"
                + "112864c269fc0d9d88c61fa47e39aa08"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 8: Plaintext (8 bytes), AAD (1 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #8",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "01",
            plaintext: "0200000000000000",
            result: "1de22967237a813291213f267e3b452f02d01ae33e4ec854"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 9: Plaintext (12 bytes), AAD (1 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #9",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "01",
            plaintext: "020000000000000000000000",
            result: "163d6f9cc1b346cd453a2e4cc1a4a19ae800941ccdc57cc8413c277f"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 10: Plaintext (16 bytes), AAD (1 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #10",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "01",
            plaintext: "02000000000000000000000000000000",
            result: "c91545823cc24f17dbb0e9e807d5ec17b292d28ff61189e8e49f3875ef91aff7"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 11: Plaintext (32 bytes), AAD (1 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #11",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "01",
            plaintext: "0200000000000000000000000000000003000000000000000000000000000000",
            result: "07dad364bfc2b9da89116d7bef6daaaf6f255510aa654f920ac81b94e8bad365aea1bad12702e1965604374aab96dbbc"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 12: Plaintext (48 bytes), AAD (1 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #12",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "01",
            plaintext: "0200000000000000000000000000000003000000000000000000000000000000"
                + "04000000000000000000000000000000",
            result: "c67a1f0f567a5198aa1fcc8e3f21314336f7f51ca8b1af61feac35a86416fa47"
                + "fbca3b5f749cdf564527f2314f42fe2503332742b228c647173616cfd44c54eb"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 13: Plaintext (64 bytes), AAD (1 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #13",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "01",
            plaintext: "0200000000000000000000000000000003000000000000000000000000000000"
                + "0400000000000000000000000000000005000000000000000000000000000000",
            result: "67fd45e126bfb9a79930c43aad2d36967d3f0e4d217c1e551f59727870beefc9"
                + "8cb933a8fce9de887b1e40799988db1fc3f91880ed405b2dd298318858467c89"
                + "5bde0285037c5de81e5b570a049b62a0"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 14: Plaintext (4 bytes), AAD (12 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #14",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "010000000000000000000000",
            plaintext: "02000000",
            result: "22b3f4cd1835e517741dfddccfa07fa4661b74cf"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 15: Plaintext (20 bytes), AAD (18 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #15",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "010000000000000000000000000000000200",
            plaintext: "0300000000000000000000000000000004000000",
            result: "43dd0163cdb48f9fe3212bf61b201976067f342bb879ad976d8242acc188ab59cabfe307"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 16: Plaintext (18 bytes), AAD (20 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #16",
            key: "0100000000000000000000000000000000000000000000000000000000000000",
            nonce: "030000000000000000000000",
            aad: "0100000000000000000000000000000002000000",
            plaintext: "030000000000000000000000000000000400",
            result: "462401724b5ce6588d5a54aae5375513a075cfcdf5042112aa29685c912fc2056543"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 17: Plaintext (0 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #17",
            key: "e66021d5eb8e4f4066d4adb9c33560e4f46e44bb3da0015c94f7088736864200",
            nonce: "e0eaf5284d884a0e77d31646",
            aad: "",
            plaintext: "",
            result: "169fbb2fbf389a995f6390af22228a62"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 18: Plaintext (3 bytes), AAD (5 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #18",
            key: "bae8e37fc83441b16034566b7a806c46bb91c3c5aedb64a6c590bc84d1a5e269",
            nonce: "e4b47801afc0577e34699b9e",
            aad: "4fbdc66f14",
            plaintext: "671fdd",
            result: "0eaccb93da9bb81333aee0c785b240d319719d"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 19: Plaintext (6 bytes), AAD (10 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #19",
            key: "6545fc880c94a95198874296d5cc1fd161320b6920ce07787f86743b275d1ab3",
            nonce: "2f6d1f0434d8848c1177441f",
            aad: "6787f3ea22c127aaf195",
            plaintext: "195495860f04",
            result: "a254dad4f3f96b62b84dc40c84636a5ec12020ec8c2c"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 20: Plaintext (9 bytes), AAD (15 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #20",
            key: "d1894728b3fed1473c528b8426a582995929a1499e9ad8780c8d63d0ab4149c0",
            nonce: "9f572c614b4745914474e7c7",
            aad: "489c8fde2be2cf97e74e932d4ed87d",
            plaintext: "c9882e5386fd9f92ec",
            result: "0df9e308678244c44bc0fd3dc6628dfe55ebb0b9fb2295c8c2"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 21: Plaintext (12 bytes), AAD (20 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #21",
            key: "a44102952ef94b02b805249bac80e6f61455bfac8308a2d40d8c845117808235",
            nonce: "5c9e940fea2f582950a70d5a",
            aad: "0da55210cc1c1b0abde3b2f204d1e9f8b06bc47f",
            plaintext: "1db2316fd568378da107b52b",
            result: "8dbeb9f7255bf5769dd56692404099c2587f64979f21826706d497d5"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 22: Plaintext (15 bytes), AAD (25 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #22",
            key: "9745b3d1ae06556fb6aa7890bebc18fe6b3db4da3d57aa94842b9803a96e07fb",
            nonce: "6de71860f762ebfbd08284e4",
            aad: "f37de21c7ff901cfe8a69615a93fdf7a98cad481796245709f",
            plaintext: "21702de0de18baa9c9596291b08466",
            result: "793576dfa5c0f88729a7ed3c2f1bffb3080d28f6ebb5d3648ce97bd5ba67fd"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 23: Plaintext (18 bytes), AAD (30 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #23",
            key: "b18853f68d833640e42a3c02c25b64869e146d7b233987bddfc240871d7576f7",
            nonce: "028ec6eb5ea7e298342a94d4",
            aad: "9c2159058b1f0fe91433a5bdc20e214eab7fecef4454a10ef0657df21ac7",
            plaintext: "b202b370ef9768ec6561c4fe6b7e7296fa85",
            result: "857e16a64915a787637687db4a9519635cdd454fc2a154fea91f8363a39fec7d0a49"
        ),
        // RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), vector 24: Plaintext (21 bytes), AAD (35 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.2 #24",
            key: "3c535de192eaed3822a2fbbe2ca9dfc88255e14a661b8aa82cc54236093bbc23",
            nonce: "688089e55540db1872504e1c",
            aad: "734320ccc9d9bbbb19cb81b2af4ecbc3e72834321f7aa0f70b7282b4f33df23f167541",
            plaintext: "ced532ce4159b035277d4dfbb7db62968b13cd4eec",
            result: "626660c26ea6612fb17ad91e8e767639edd6c9faee9d6c7029675b89eaf4ba1ded1a286594"
        ),
        // RFC 8452, Appendix C.3 (Counter Wrap Tests), vector 1: Plaintext (32 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.3 #1",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            nonce: "000000000000000000000000",
            aad: "",
            plaintext: "000000000000000000000000000000004db923dc793ee6497c76dcc03a98e108",
            result: "f3f80f2cf0cb2dd9c5984fcda908456cc537703b5ba70324a6793a7bf218d3eaffffffff000000000000000000000000"
        ),
        // RFC 8452, Appendix C.3 (Counter Wrap Tests), vector 2: Plaintext (24 bytes), AAD (0 bytes)
        GCMSIVCase(
            name: "RFC 8452 C.3 #2",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            nonce: "000000000000000000000000",
            aad: "",
            plaintext: "eb3640277c7ffd1303c7a542d02d3e4c0000000000000000",
            result: "18ce4f0b8cb4d0cac65fea8f79257b20888e53e72299e56dffffffff000000000000000000000000"
        ),
    ]

    /// RFC 8032, Section 7.1: Ed25519 TEST 1 (empty message), TEST 2 (1 byte) and TEST 3 (2 bytes).
    static let ed25519: [Ed25519Case] = [
        // RFC 8032, Section 7.1: -----TEST 1 (ALGORITHM: Ed25519)
        Ed25519Case(
            name: "RFC 8032 7.1 TEST 1",
            secretKey: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            message: "",
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                + "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
        // RFC 8032, Section 7.1: -----TEST 2 (ALGORITHM: Ed25519)
        Ed25519Case(
            name: "RFC 8032 7.1 TEST 2",
            secretKey: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            message: "72",
            signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                + "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
        // RFC 8032, Section 7.1: -----TEST 3 (ALGORITHM: Ed25519)
        Ed25519Case(
            name: "RFC 8032 7.1 TEST 3",
            secretKey: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            message: "af82",
            signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
                + "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ]

    /// RFC 4231, Section 4: the HMAC-SHA-256 results of Test Cases 1-7.
    static let hmacSHA256: [HMACCase] = [
        // RFC 4231, Section 4.2 (Test Case 1): Key = 0x0b repeated 20 times, Data = "Hi There"
        HMACCase(
            name: "RFC 4231 Test Case 1",
            key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            data: "4869205468657265",
            mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            truncatedBytes: nil
        ),
        // RFC 4231, Section 4.3 (Test Case 2): Key = "Jefe", Data = "what do ya want for nothing?"
        HMACCase(
            name: "RFC 4231 Test Case 2",
            key: "4a656665",
            data: "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
            mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            truncatedBytes: nil
        ),
        // RFC 4231, Section 4.4 (Test Case 3): Key = 0xaa repeated 20 times, Data = 0xdd repeated 50 times
        HMACCase(
            name: "RFC 4231 Test Case 3",
            key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            data: "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
                + "dddddddddddddddddddddddddddddddddddd",
            mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            truncatedBytes: nil
        ),
        // RFC 4231, Section 4.5 (Test Case 4): Key = 0x01...0x19 (25 bytes), Data = 0xcd repeated 50 times
        HMACCase(
            name: "RFC 4231 Test Case 4",
            key: "0102030405060708090a0b0c0d0e0f10111213141516171819",
            data: "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
                + "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
            mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            truncatedBytes: nil
        ),
        // RFC 4231, Section 4.6 (Test Case 5): Key = 0x0c repeated 20 times, Data = "Test With Truncation";
        //   the published result is truncated to 128 bits
        HMACCase(
            name: "RFC 4231 Test Case 5",
            key: "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
            data: "546573742057697468205472756e636174696f6e",
            mac: "a3b6167473100ee06e0c796c2955552b",
            truncatedBytes: 16
        ),
        // RFC 4231, Section 4.7 (Test Case 6): Key = 0xaa repeated 131 times,
        //   Data = "Test Using Larger Than Block-Size Key - Hash Key First"
        HMACCase(
            name: "RFC 4231 Test Case 6",
            key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaa",
            data: "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
                + "65204b6579202d2048617368204b6579204669727374",
            mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            truncatedBytes: nil
        ),
        // RFC 4231, Section 4.8 (Test Case 7): Key = 0xaa repeated 131 times,
        //   Data = "This is a test using a larger than block-size key and a larger than block-size data.
        //   The key needs to be hashed before being used by the HMAC algorithm."
        HMACCase(
            name: "RFC 4231 Test Case 7",
            key: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                + "aaaaaa",
            data: "5468697320697320612074657374207573696e672061206c6172676572207468"
                + "616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
                + "68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
                + "647320746f20626520686173686564206265666f7265206265696e6720757365"
                + "642062792074686520484d414320616c676f726974686d2e",
            mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            truncatedBytes: nil
        ),
    ]

    /// AES-256-GCM test cases 13-16 from the GCM specification.
    ///
    /// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)" (submission to NIST), Appendix B
    /// "AES Test Vectors"; all four use a 256-bit key and a 96-bit IV.
    static let aesGCM256: [GCMCase] = [
        // GCM specification (McGrew & Viega), Appendix B, Test Case 13: zero key, zero IV, empty plaintext, no AAD
        GCMCase(
            name: "GCM Test Case 13",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            aad: "",
            plaintext: "",
            ciphertext: "",
            tag: "530f8afbc74536b9a963b4f1c4cb738b"
        ),
        // GCM specification (McGrew & Viega), Appendix B, Test Case 14: zero key, zero IV, one zero block, no AAD
        GCMCase(
            name: "GCM Test Case 14",
            key: "0000000000000000000000000000000000000000000000000000000000000000",
            iv: "000000000000000000000000",
            aad: "",
            plaintext: "00000000000000000000000000000000",
            ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
            tag: "d0d1c8a799996bf0265b98b5d48ab919"
        ),
        // GCM specification (McGrew & Viega), Appendix B, Test Case 15: 64-byte plaintext, no AAD
        GCMCase(
            name: "GCM Test Case 15",
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            iv: "cafebabefacedbaddecaf888",
            aad: "",
            plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
            ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
            tag: "b094dac5d93471bdec1a502270e3cc6c"
        ),
        // GCM specification (McGrew & Viega), Appendix B, Test Case 16: 60-byte plaintext, 20-byte AAD
        GCMCase(
            name: "GCM Test Case 16",
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            iv: "cafebabefacedbaddecaf888",
            aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            tag: "76fc6ece0f4e1768cddf8853bb2d551b"
        ),
    ]
}
