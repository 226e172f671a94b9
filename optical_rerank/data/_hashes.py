"""sha256 and size of every file of the pinned upstream commits that the project knows.

Public metadata, not data: one row per file, ``(repo, commit, path): (bytes, sha256)``. Generated once
from the ``MANIFEST.tsv`` of the project data mirror (``$OPTICAL_RERANK_MIRROR/MANIFEST.tsv``); a file
that is not listed here is accepted with the sha256 recorded on its first download (see :mod:`.fetch`).
"""
from __future__ import annotations

KNOWN_FILES: dict[tuple[str, str, str], tuple[int, str]] = {
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "DOCUMENT_IDS.tsv"):
        (30754, "88a8b0ff1eae47e83f60dcde01075b8c87d75ced59ca09e0af1eb539958e05d5"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "LANGUAGES.tsv"):
        (1862, "06b295e71976aa7adfef358d7c24a91b61212ca7aafb244c199619661f808158"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "LICENSE.md"):
        (20137, "5e436ff8ffbb77d8607220e9bce20c8915d860010feeb6c1ebef5a85688e9b39"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.amh.txt"):
        (430093, "9383b4681e1fc24c285af145f0d70a76997763df9aa366623c458ea2bcc19823"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.arb.txt"):
        (423901, "d271c8645933421f760eba8ed8cc1ceaaa052f917d9c2839b8abb27e0ded71e6"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.ben.txt"):
        (656343, "7fae73a2d1d24fdcb47f68a0691253cda05fa55c5ca944bc3cdf8eb2945825f1"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.deu.txt"):
        (306436, "259d7406a07b63e6b5b9c4a22fb76b85e2578a3fa0a4e541a50f4f7348e5c1b2"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.eng-GB.txt"):
        (251749, "26f9045f7f1901a50cf6da74d767739020e93c2117b448e659b1bcf6e3945f6a"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.eng-US.txt"):
        (251710, "a163045804ddb5e9529c7cbdb751c6f6f7491a31f69dcc13129bfe1521595094"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.fil.txt"):
        (297785, "a87a71b901d91b00c8c4df1fdd949c3480d620193e6e1c8215fad63764e8c35b"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.hau.txt"):
        (278324, "e6665dd99bf833d328928cf8a5522613833dc64c4df78851071faa1bad736b36"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.hin.txt"):
        (674699, "10d612b3960dc1f90d297aff7e3c6d39e6eb7221b912cef0c053d9f510e41bbc"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.ibo.txt"):
        (298675, "e6374641c40a31b9954171accc4c47c70c76fd9ab64bde8d299d6086c8a7c01e"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.ron.txt"):
        (314018, "ad8f396735ffe78f7cbfce1df7782fe587c395ed30b1eee92a16109d62d4648c"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.rus.txt"):
        (505414, "a7e3601298b0368659a5c006c52809cf6792e02eb94bde9b9693333278d85732"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.som.txt"):
        (296643, "2d13c10e31abc537f66c92d5c5f6fac17348d30d3fe119dc7c11bd6d6ce63240"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.spa.txt"):
        (299333, "0ad8129e5ce0bea86ba7e0ea0db0504d6626b8a4d2a7cf4c44b7791c70e99b84"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.swa.txt"):
        (276611, "076cec7296ec0d458d4762ddcffcd1d79ce2e7d8ee641467977d0b9f4ec95e8d"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.tel.txt"):
        (670502, "c719e216f47b4497c6afa3c1af8819e0c45c07dd87500b0ed327b7ebcc06d1bc"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.vie.txt"):
        (359879, "dd5d16cf246da57f5ccb7490ae13b8df428e7cb53e17fa04552406d657abfe3c"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.yor.txt"):
        (408305, "949526fa834746b6bf85e5014ccaae993b94d4d9ac1452350eb715e30ecd62f2"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.zho-CN.txt"):
        (241603, "8bcd6f0868d33f26c8da12f55a82f66088a7b60a5f7b0b1a99dcec51daa8054a"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-ref.zul.txt"):
        (262351, "498c1d15998c7e418feba7362f23f6c763687013bf59ed45ef3fe8b3a53e258d"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "NTREX-128/newstest2019-src.eng.txt"):
        (251739, "389e8f5796c66db4f646dfad33e1ec622d74767af5ef112b42a1f2cd814df3cc"),
    ("MicrosoftTranslator/NTREX", "8561f6a622db9edad1217683e5c83daefd8bb2bf",
     "README.md"):
        (3757, "d00240af5232e2b89d1e1fb1af23117339fabee04d0d01f72df64162cc207f35"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "README.md"):
        (954, "14cf649a7bc20004cd8dc8dc792fd7bb11972b7bc67e27bf09eab85bdc17efdf"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-ha-dev.tsv"):
        (4051, "7a1aa4c0833fbcf5bfe181be8aa77681d8d6737d0d0f05950d1a18746d950395"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-ha-test-a-pools.tsv"):
        (182138, "b45908d600b4472c768f54a0f7d985767dcd664369881f22de2af2a9e94c18ec"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-ha-test-a.tsv"):
        (36310, "8731e0a830adca51925cbed317f6786cd66052480d8a0dc31b3734f6eeea63e4"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-ha-test-b.tsv"):
        (153179, "00d628f42f6185c66663f5b20f5f42546f5947ad18b4e6f56155e5278edfcdf8"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-so-dev.tsv"):
        (4504, "e78a166f7e039cff1a893b9f06a1c0fffcc8a7e5301f5f5efa95cce96971ef88"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-so-test-a-pools.tsv"):
        (226119, "821838a208c946a811d3bc41d999c63397e0eb3ddca5239fabb2b2dd5ad76153"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-so-test-a.tsv"):
        (44847, "3b603f23e52d94434155deb156580ce5023949b1990ec188c29dd26bd6b74b0d"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-so-test-b.tsv"):
        (108903, "4c6cf6b334a8c9492f1980a93da7fd0d5559539a07fab7cefe279f7c113055d8"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-sw-dev.tsv"):
        (4712, "a4216978d429df7ee904d6b5d67bb8893bf337a29815a0a0f4ac0134077288f9"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-sw-test-a-pools.tsv"):
        (195230, "4d3c82c8feda29088d8ea6ddd1bf74db6816888c8dd191ddeba294ca002d2305"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-sw-test-a.tsv"):
        (39551, "b233f415f7822f6a3d7297af47be971f0d44be466898ecfdcb48a98144eb9750"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-sw-test-b.tsv"):
        (53336, "a9a9102ee4fcb5182c93292c962d78465ef09e2d66c3066589e762214a0607fb"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-yo-dev.tsv"):
        (3682, "eca39623205feb32b20e99b2ff5172943eb63e2cd80b91e543aaf39a34464452"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-yo-test-a-pools.tsv"):
        (175663, "5d061b7892f4994730215405c4ebe0080eb276dcd275d74ae8c2176c821b38a2"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-yo-test-a.tsv"):
        (40733, "ae824b55e0c4b89d554d000e682b4ea88e9b02fd91e1c903e621c838b2d1858d"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.ciral-v1.0-yo-test-b.tsv"):
        (225558, "2cdb946d6fa1f49f84fc08399c5677fb62a346a65d98f9956a483b44eb7dd627"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.dl19-passage.txt"):
        (187092, "8a1f10d550732e4cd91d7fc49846a3784de4040972f583e69285a88f3c5fee92"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-ha-dev-native.tsv"):
        (486, "bcde43fe973bf8f7de22641c297fb06770852edfa45dad3f965f40a767f09cfc"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-ha-test-a-native.tsv"):
        (3578, "ac9306db4f364c9da19607fbbc7dd1b9d1f3a82bf3016bbb648024a5625bcade"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-ha-test-a.tsv"):
        (3798, "179abec0a3ddc5e8300c2cdd588bd2a4a48b1a91c88be9356352248c5e4da151"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-ha-test-b-native.tsv"):
        (14375, "094a09c35477629ebe372b1164725c69b7ca2564827acaceb0872d8a88e9a47d"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-ha-test-b.tsv"):
        (14641, "2f70d0a7f41730079af80016d0629cf7a3e16a98b6d329f37b62d376ff301881"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-so-dev-native.tsv"):
        (641, "62d513fbf3e025344b682bc1878fba8bc2dc048991da81171c9e48db0266e1c8"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-so-test-a-native.tsv"):
        (4208, "b40984fcd573f8ba4fa6c998bbca364495d84cdf0da36de8d8ce41c73c9bff89"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-so-test-a.tsv"):
        (4136, "3fa4d9cef31e00266935cb6332aad1f679adae661e9cc8c5e8a2c254e369824f"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-so-test-b-native.tsv"):
        (9969, "7f6823bcfada3c201639c4126d3876a694a2de545c02f21c79780225b640a90a"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-so-test-b.tsv"):
        (9536, "2954ea204770dff97a7a979b0fac3ce833e0f092ea7e01638cd2abef73a21230"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-sw-dev-native.tsv"):
        (580, "d97c838b616177ce64ea09d8cd25354f4fd747156969fc9e3edf74788231de4b"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-sw-test-a-native.tsv"):
        (4285, "c7903f51769c407e73988528a8728bfeafaf0297d3a4d49343a7906ded788efa"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-sw-test-a.tsv"):
        (4469, "6a654495eb2d00f6b4e28102baf5a43e69cdb0b31a93483d0950f7fc7ee17171"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-sw-test-b-native.tsv"):
        (5200, "1d739cfea7f448298eb3b4657f4dd96e239f0674828a6a3ab4bef4b1bb232f42"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-sw-test-b.tsv"):
        (5370, "c125e0baa54a233a6d7cc143e8aa229e9e6629ee87d49a8384aee796cb2dd690"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-yo-dev-native.tsv"):
        (646, "f2e3ece7b4b2d7625528f34d78821e86f087410fa90c9266ac9d675373886c52"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-yo-test-a-native.tsv"):
        (5817, "d4ef321b0a2d4fb08e0777f4fe83842b40b883e29f6d4d8f59cb965ddefe2e1b"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-yo-test-a.tsv"):
        (6094, "bdc9b143d8637b61b27ebdf056d1b675ecf94ad002a1de7fd163e2a22940db76"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-yo-test-b-native.tsv"):
        (29833, "121e48347ffc7baf601d168680ca22212ef2620ff09175597e2e9d92ef516927"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.ciral-v1.0-yo-test-b.tsv"):
        (31898, "157bb6098d35182a7d001d0617dcb86c6f6fcbbebff0c2b5a1f32e22ad8d4849"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.dl19-passage.txt"):
        (1764, "518992da259fb61f64e4790791df91a7b42ea5773f374aed59220ebb51d58d90"),
    ("castorini/rank_llm", "1b3cabbc3564441bdcda6c6a2e92137b9faa0660",
     "LICENSE"):
        (10766, "e712c10d43239eb2b5493a60d82bd385fb8750a082171a12a33088180c79e8f9"),
    ("castorini/rank_llm", "916102c7de2f7348a64427b89300946657997098",
     "retrieve_results/BM25/retrieve_results_dl19.json"):
        (2306085, "4f3e4aba8bb68c1b38405da010f44537f31d3b5fff7088ef97c03caed1076674"),
    ("castorini/rank_llm", "916102c7de2f7348a64427b89300946657997098",
     "retrieve_results/BM25/trec_results_dl19.txt"):
        (190529, "cbada2e4f710f8cafb8f1fd54e2289011b3273cdc044adb2380af21f63a6c861"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "LICENSE"):
        (11357, "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "README.md"):
        (1487, "f0ed58b2b529d7ada9c90978838e35bb69dafc4916cb31154cb5e003b91495dc"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/amh_Ethi/dev.tsv"):
        (22111, "68fe9ef59a3a08b88f9da3ee08688987994cba825afe1769ea5cf464bc7680cd"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/amh_Ethi/test.tsv"):
        (49720, "cb2561679c995878933280644c24ee3222106196e29048ea14b2c1ba9d1b45ac"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/amh_Ethi/train.tsv"):
        (170014, "cc902c80ecf48f81d7b1f0aadf01467a11446522444f9c321838cd7fad76d234"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/arb_Arab/dev.tsv"):
        (21210, "3e41235ba03924643a9ccffe9606d892005df116ed1e669363a82de67041a19c"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/arb_Arab/test.tsv"):
        (46872, "6ee8321b157e9c27e8ad38157ba5e88d085f8449d4a469149a6e1dafb2d26384"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/arb_Arab/train.tsv"):
        (159745, "2daca4520afcc480de58673348cbae3cb180b79eca58e9409a16059f25b12961"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ben_Beng/dev.tsv"):
        (32765, "76e3eb79544dca81770813d451a9524e8f5f3a98aa12bd29718a3064412b0f5f"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ben_Beng/test.tsv"):
        (72534, "0d524daff72c5a72bf6aad931782a3a39e0e275676dd1ebf725bff91d76ef7a8"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ben_Beng/train.tsv"):
        (252333, "7fb79c8bca20b10142ac16d30b913788ee173cde9bbd009b4a8c34f5161b2810"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/deu_Latn/dev.tsv"):
        (15769, "809f5772264d1504f9ff70458514620eaf04aca0a817e01c181a6ba89b2f6ef6"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/deu_Latn/test.tsv"):
        (34775, "c7709a01e81725fd929145787fec51426e3c76be4125b2113b0dfecde9da4b39"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/deu_Latn/train.tsv"):
        (120241, "2c336ae7b65365a2e5c139fdf768c7f229b2faf76678cf0c450d563eecc93a2b"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/eng_Latn/dev.tsv"):
        (13639, "48fe23ed3c66e6978c6cdeff3f661ab9ea6451001d967e23d94796b009777181"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/eng_Latn/test.tsv"):
        (30069, "fd7012f846f5a8caead1e7419023d64a28351893f3d9c7ebcde4c5481ca5d326"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/eng_Latn/train.tsv"):
        (102878, "056c2989673d0724cb27edb0d9ee5c6305b2548c17f9fd8f2092f40c98ac0156"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/hau_Latn/dev.tsv"):
        (14917, "dbba8629e41ca9a4b8fce968f33e3685a7572afb47208ba94d9d3c98f5c44b01"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/hau_Latn/test.tsv"):
        (32314, "d8c32b380a412a92f9e6b38e536342af6ab787696a273681f2508b97472c7b26"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/hau_Latn/train.tsv"):
        (110595, "4878435fcc124590a3a9e2d2951faf732765b9fecf793ea40da7437cdef07ebd"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/hin_Deva/dev.tsv"):
        (32843, "fb0a429bf9957ac8386f53a987e816fba025d9e496bf590a4d1a40f7df242709"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/hin_Deva/test.tsv"):
        (71994, "cf0fa55bb3ed7a146798fa22e6350eae49ae0fb96126e9d84726628b406b55c6"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/hin_Deva/train.tsv"):
        (245738, "2cd00a2b1d0f3259a3ed5a7c349f91f8eb73d23e06001b51486b37d684e8fe47"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ibo_Latn/dev.tsv"):
        (16050, "11e782572e4d95b7b0b8739ca14d552ee8bda9ef21383b77fb720f90a28d6ffe"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ibo_Latn/test.tsv"):
        (35962, "9f086f683695ed616d58df3bf0eb7fc1b006d4c2b1bb6097cef1ce953d768c6f"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ibo_Latn/train.tsv"):
        (122326, "6e1036d8dd5ca785d6d16d11919678fcb3b4253542e9cba6c32af7e0ad0680e9"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ron_Latn/dev.tsv"):
        (16107, "40c8787bfa7ec86c595e05fecccb8183ea9b2e9c16938ec0af549445cb04b748"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ron_Latn/test.tsv"):
        (34887, "893e729228ef4760176902e3f6df9b71b06bb48ea3bf5c7f0b3cda762dd09da4"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/ron_Latn/train.tsv"):
        (120513, "b7e3eabc5084e9ebb9e22a4239c9eaa83874afa8db41c51c0960c83923106f70"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/rus_Cyrl/dev.tsv"):
        (25329, "92a09f8bad4742f6c7b2a314535ce3e0e2f035726d5dcfa09ca645518302dca3"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/rus_Cyrl/test.tsv"):
        (57441, "9e08f02d142687110b580bf75e28ce643289939582190eb986c948f47c35fee7"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/rus_Cyrl/train.tsv"):
        (195294, "2c5d092fcd73df8b9bf62d93d5acb9e41482fd827b99a9b24273861054ec033e"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/som_Latn/dev.tsv"):
        (15613, "423275242f172b15e02c8957a4712d684b74b832b8dc68262519d2145e72e8e8"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/som_Latn/test.tsv"):
        (34141, "b71f4b611b590d43e2683db542c2ee1eeeebd94a4b8ac238e479e3e4162cb47b"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/som_Latn/train.tsv"):
        (115899, "16b8a04f910d819426556170f7d47f1dbffdffaf31b8fd57112f0c561d1947b4"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/spa_Latn/dev.tsv"):
        (16044, "53adba2773b99377133cfae38260df5badfbef541e73b674208395c2ae05f834"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/spa_Latn/test.tsv"):
        (35644, "971fbbf0ed5e2f4d10953264c9d5ef05d854b654014d3a10b98f50a12443ea41"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/spa_Latn/train.tsv"):
        (122295, "274f9381c0e6cd8eebbe6dc66e04e8fe81866f565435b92204d212c13a6f5bd5"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/swh_Latn/dev.tsv"):
        (14589, "b8dfce0f80e7fd5b94a1fdc224fe4bbac6d237061d4a75ec4bb311d8493b3add"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/swh_Latn/test.tsv"):
        (31492, "008e4ff2441c46d6fc92714658dedb2c185bafe06cb914e03342734a3a2c8288"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/swh_Latn/train.tsv"):
        (107785, "80eb1a48a96e895bed890ee2fcdd17ef776dbc330021e601fbf978711b850b01"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/tel_Telu/dev.tsv"):
        (34307, "000ebaef0b2a6b3cd61a06df7c27598ab287efdc18c3a294e30510b287b5c569"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/tel_Telu/test.tsv"):
        (76121, "9ee7b85d4dddc810cf1ab22b8ad5a2decbc4fc8ec18f1a7e6eb14da77691c916"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/tel_Telu/train.tsv"):
        (259191, "79964b11d0b9663a9323d90557a2b02d6fa04b00c8204200c0795645b967b0ac"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/tgl_Latn/dev.tsv"):
        (16894, "23cad22ce4b5f5d1964052aaf621e7ff48d34f3b4d5c274e57a40e2866c54293"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/tgl_Latn/test.tsv"):
        (37049, "be9cda47b2a73a634344cc681034c095702d70072b0642d96560ee96b96ec22d"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/tgl_Latn/train.tsv"):
        (127554, "009bdee7a98fed4219c47a26b68256fe7d50ce26b5988cb6d957aaadda335a67"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/twi_Latn/dev.tsv"):
        (14630, "7968237ea2801e16a73064607a4ceb8777d0a77231a248a81561ed880e86c7f1"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/twi_Latn/test.tsv"):
        (31403, "355a4290aa2a1f91d9b8d398c0fca8303bb36da36f56bfb70f9d76d41b6cd1b2"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/twi_Latn/train.tsv"):
        (107691, "079494bf2e837bb2d376ad468f408b38c5398774922b7c49569b48cfa418ea5e"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/vie_Latn/dev.tsv"):
        (18237, "6044ac110e14c5d1ae2d61c6cde25fba3ed578d763f3987618068aa216c2c475"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/vie_Latn/test.tsv"):
        (40601, "1de363037ff166e60f18f002555ef247cd2c80cc90fadc87c0c2ccb6612f42cc"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/vie_Latn/train.tsv"):
        (139192, "d0938c13c6d44d3c2161c591704b6bcc3debf988becd7b59f8d6fa77619f727c"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/yor_Latn/dev.tsv"):
        (17048, "1cbbfccf4997bb583ee18241482856e3bca815097a5195261d56f6fd98242295"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/yor_Latn/test.tsv"):
        (37578, "acccab95146351c0ffaea5d7899bb9960a77be970e0c6ff6d7d09e0df3a45a29"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/yor_Latn/train.tsv"):
        (128267, "d6d864efea7286081a2b08f55d5b69a339e94a0c87456c68ee643dedc0fa90fd"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/zho_Hans/dev.tsv"):
        (12647, "6725566efdc427daf2ca9fdb557fc803ce6c8e6fee60d6616ac0d8dd194f84fd"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/zho_Hans/test.tsv"):
        (27922, "0c8771f4f51e6097f5cf4086b5532edfdee5f374c58c441574c0925f55e07f47"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/zho_Hans/train.tsv"):
        (96974, "76e5b0b6a3e8f8249d0574b8574b00a7cf625f00d0ac681cfe2db43dffcc3000"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/zul_Latn/dev.tsv"):
        (15358, "389ba9965032fde13d190bc2ed83eb393e4898fc6968911c3bdece18c330b3a2"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/zul_Latn/test.tsv"):
        (33335, "d0f1cc1f6031ab9609a66c3d995d26f268a59211bff025e1834773868d7bf93d"),
    ("dadelani/sib-200", "593cea88519930f776c1a4a1980b6a35b39dca57",
     "data/annotated/zul_Latn/train.tsv"):
        (114510, "5a8a6dbecbc3010d0ec761ae161517363f8afee710d58eb471d8af8ba89fd4d1"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "CC-BY-SA4.0.txt"):
        (15058, "25ddafc153e4cfdafd70729574ef1b44348e1814709e57680d55347038d3f92c"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "README.md"):
        (7086, "9426ddbedbb338c6af0f990e1a6153ad38154d99d7c747f1ef6406676e9a243e"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.ar.json"):
        (1582988, "abdabd7afed5c635d99cca0f3f0d0c9d9ed0bc77451e963c2e4e0638c29e486d"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.de.json"):
        (669810, "990b5d746746ed65ed4702ea5f35f99ffa4e2f1c390c07d003642acd937916f9"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.en.json"):
        (609383, "e4c57d1c9143aaa1c5d265ba5987a65f4e69528d2a98f29d6e75019b10344f29"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.es.json"):
        (684322, "dcbae93ec3a9f4b9e78fd834a171d6f96c1a875e10e15b7530b7e4ef4971e37e"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.hi.json"):
        (1680538, "df2cce3532b37e9beb8979704b5c9a4bf874358f105395a298b89427b43b9d24"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.ro.json"):
        (661158, "94f8d54e93ad2b7dd2e76dd921a666b5b8eff2d4379df9f179c42b445f09643f"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.ru.json"):
        (1896368, "208d5b1aa154c52b1b5c5eda16281e455e8fd198cdb9af3f469f0d6037d973bf"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.vi.json"):
        (911401, "f619a1eb11fb42d3ab0834259e488a65f585447ef6154437bfb7199d85161a04"),
    ("deepmind/xquad", "60cac411649156efb6aab9dd4c9cde787a2c0345",
     "xquad.zh.json"):
        (808652, "691d0b3359bc6b8faa8de931dfdfe21d50a65861ae348e32a0d1a0190b0c8835"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "LICENSE"):
        (1577, "05ec63ab2a813d0ef4c872cc2e74c71f666ea0560f92bfa31ee2f093c4ede17f"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/README.md"):
        (1226, "5fbce42e75e8f2200dd36ed90279aa10a06ed6db2e34a7fef7f55e99c53af467"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.amh-eng.amh"):
        (6120, "ffd4b09d5d677313e82bb15e557e722d6585d0d5ac81c47dc10690d6ce8e2d8f"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.amh-eng.eng"):
        (3752, "37fe0d20ece58309ab74c605aa571b4f9a78c7de6825266aa981fbdc54aa9f92"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.ara-eng.ara"):
        (43582, "e67a0ae072b79cd9e8eb09f166c3bc0b23488d39f5720f2ee0a8350ae17b719f"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.ara-eng.eng"):
        (29068, "3c11838c963f598a52dcf2f452b666353538257001db5c59c3a5f54a999b336b"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.ben-eng.ben"):
        (65990, "ac3385695d6a6c7e5d18e38ad4b8b7d3780f3df23dd0ff3f539071b8269a8613"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.ben-eng.eng"):
        (25713, "67fbe75fec549d436c3356b6d6f8dd53179b6a908661b5d507d28c7fee83350e"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.cmn-eng.cmn"):
        (33410, "965d033966fcd186c89741ad49ab4b0a0b2bbd33e02666635ff3b2be23c1ac1f"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.cmn-eng.eng"):
        (35521, "29ba36232488f5806aceccac57c59c5e750ddd08edb40eef417e3ada9ff9a239"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.deu-eng.deu"):
        (57121, "edfa6f75a42554df388f45891735d5e4214158a99def4b73b5908af4a3054551"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.deu-eng.eng"):
        (48446, "eb9cc83a42f2c4b22f310d05311207e41abb56c2a084666cac3ee0f84d2d0b84"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.hin-eng.eng"):
        (34090, "adfce2269a55dbac69b25c0f4f6eb89e0f9383165485925a2e042e61b9480562"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.hin-eng.hin"):
        (88468, "15e4fb0a394be4438319f1d6955d1aea226e2a8c5ad38798b23b76ae43d742ed"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.ron-eng.eng"):
        (34494, "1064c638220dc9de0868baee327e091ae815214674295b62b13448ef442c448d"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.ron-eng.ron"):
        (37990, "ad5c4a9f4920718203534d1f8271e27021b9af54b2c908dec66851d4dc681fd4"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.rus-eng.eng"):
        (33650, "7b26f52d6085b7c4944d6f5f6f5b6e1932085b42112f1444db515ce59e878fb8"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.rus-eng.rus"):
        (58822, "446ff2cae66053c2277d9735b2c2df6b786cae258385f7ade7bed68d8835c6a0"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.spa-eng.eng"):
        (34776, "89e4470f4572040b1ca94b3edad97dcd8bd2f0141f072e12933b8659dadf917d"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.spa-eng.spa"):
        (37490, "f9628cea40481e8251f0999718bd893cff0f261752f5e526b3bc20284e2ca018"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.swh-eng.eng"):
        (10822, "e8539647caff9e329776ae863b6224d432923c6e4e9256b9df92ca58ff282eac"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.swh-eng.swh"):
        (9645, "1c672915446c336cc378676e6dbf91eb54d27bbfd0c61563d349265bc6374753"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.tel-eng.eng"):
        (6806, "1efc2ef57d9b1ecebfc4baa45e86fd793e38473304e9c043aebabc3a1b29a294"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.tel-eng.tel"):
        (18337, "7e1a1bcd106cce650a09e2f042f1354b55b29bea2bcfa86554dfa0ad12ce8976"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.tgl-eng.eng"):
        (31632, "e7c9beda3f3072a968a34a7226a66d1ebf1dcb33cf002805dc752f80a7c620ae"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.tgl-eng.tgl"):
        (36506, "f99165dc05190b99f6574fe24db884ff85d111612a25e7a37323f001aafc2a6e"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.vie-eng.eng"):
        (38686, "a1f60bd8ae6c42224a4c050d2aa1ff4242d14827d64d7831e96ecf2b2c367f5f"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.vie-eng.vie"):
        (52721, "6dbb02d778b0bfc8678cd85f87db76de55dd7e409a26fe32ad42d50e0f1fff77"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.xho-eng.eng"):
        (3758, "88bc39204f332b486f81f24d5a38fda985debb9496c687b333c246dcfa4b23b6"),
    ("facebookresearch/LASER", "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
     "data/tatoeba/v1/tatoeba.xho-eng.xho"):
        (3669, "a98016214a4ecff2c85807c095f40fa966f85efa556ff3c6b97bbcde36337242"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "LICENSE"):
        (15058, "25ddafc153e4cfdafd70729574ef1b44348e1814709e57680d55347038d3f92c"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "README.md"):
        (4053, "b88f32ef57482e4fc1b7c0dfa4e0c954a31048df81bc793d87e11479388cf3e6"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/ar.json"):
        (2234875, "c52922d3b8ac1ae03ed5ac38647ad59870dca3dda2beefe18ecdc30729acb69d"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/de.json"):
        (732156, "16fb0f4bf4916154b585a20c24c66074591c9718a1affe764ff4697572328949"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/en.json"):
        (628651, "7b0954f39297c27a31fef610f0883337dd2907fa8699151dc922afdd0fa12ffe"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/es.json"):
        (746335, "f8e836b2d91009c4363e04315f7ede363eedbbb49c67dda60de6c4aa782f58de"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/hi.json"):
        (2408404, "ea45ba8ae4513d1533b222bebdc02a90bc319c055d3aeea68584a053d2e92872"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/ru.json"):
        (2764904, "7f4dff853538b9a5fcc28c070b8bb983a5c5d190ac747b8e005a1ada9cab18f1"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/vi.json"):
        (1132303, "e35926bf5cc6fc6ecbdfca49467aabeb454f08d152d7818143a906bd31dde995"),
    ("google-research-datasets/lareqa", "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
     "xquad-r/zh.json"):
        (959291, "80c2cde7b9c2fb134c303cbb52f2ba396ead9eb0014aec43993543d2ba9e93ed"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "LICENSE"):
        (18650, "7e7170e3cebf88a9f60c7b8421418323c09304da1af4d5e90f4da1dc1c8a2661"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "README.md"):
        (6937, "095ef9734e0cc0e63d2a57b1a71e1840e4a7ecbb82f949cb535e862f57d94626"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/fon/gold_span_passages.afriqa.fon.fr.dev.json"):
        (351142, "0c94c4405a2b448d647bee4387cbb34b7dfc14f63fc6655f498c2d49254c8a2b"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/fon/gold_span_passages.afriqa.fon.fr.test.json"):
        (508120, "3308b7d0e455912d4e37dd0b9e8b06e6c1d108d2af040a7f7ffbc3e838dfc927"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/fon/gold_span_passages.afriqa.fon.fr.train.json"):
        (362681, "8fd0b5ad42ee3ebdc91ac8d770c6da15718ae5605f754b9934183c09f56b383c"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/hau/gold_span_passages.afriqa.hau.en.dev.json"):
        (201939, "ef9cb217e8ea4922935c7fb9e7456364e91c2712519390071170a18131e9e132"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/hau/gold_span_passages.afriqa.hau.en.test.json"):
        (269430, "e1a0d530d75641760387a2947044d69090c15db620fd9a4dbcf8dc52940d7687"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/hau/gold_span_passages.afriqa.hau.en.train.json"):
        (202993, "21d975df45d8e1316c964f4fe8521dd7ab455fbe1b0edea1564824352b67be2e"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/ibo/gold_span_passages.afriqa.ibo.en.dev.json"):
        (328129, "9636bfa38368c69319f1b7a2bca1ab995c7b4ad63c5801a25da53b34a5fa4e02"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/ibo/gold_span_passages.afriqa.ibo.en.test.json"):
        (418201, "490af9c615ec5e56ec50a3da21efed82df5f67c794ac5d8d6c5e7d30845cc48d"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/ibo/gold_span_passages.afriqa.ibo.en.train.json"):
        (306759, "5300a29efc78c3dec1fc68c66eb1fec3a72577de4136a41d7c85aac355f1a5b8"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/swa/gold_span_passages.afriqa.swa.en.test.json"):
        (324070, "18609b69d21c37b737426baed0a4f02495ab237285dd524e8f502f756350d0bf"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/twi/gold_span_passages.afriqa.twi.en.dev.json"):
        (328038, "d9bd337c4a47bb1dbccffb74fa170e418911c7b6c3cbb8c034ae17d6794ada79"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/twi/gold_span_passages.afriqa.twi.en.test.json"):
        (454058, "329221245f9880896b9038405c44b7f8ef48db3067aa556fbd82819de46b954d"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/twi/gold_span_passages.afriqa.twi.en.train.json"):
        (331466, "cdbba2a4d6a40e6e8fd587d25cb56e57ea2fe888bac254f66fc29409cec1afaa"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/yor/gold_span_passages.afriqa.yor.en.test.json"):
        (224135, "0aa0f6c1769f07788c918fd0dc1848b70ec0f06e8de9a6893d9037b9ff05abaa"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/yor/gold_span_passages.afriqa.yor.en.train.json"):
        (155554, "864d91d1cab11b587b6535e6a293cc21ba2cf62ce7cc44f175f0fd7656f4925c"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/zul/gold_span_passages.afriqa.zul.en.dev.json"):
        (269899, "3332f7063e65d80cad27d6625de1c9681569a357a6e6eab64132416e64871689"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/zul/gold_span_passages.afriqa.zul.en.test.json"):
        (363275, "e6edc93eed66267a0f8b98a96bc4ef104c66e33a903678fa260219e8c66efd75"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/gold_passages/zul/gold_span_passages.afriqa.zul.en.train.json"):
        (271088, "a5bd82873ef476aaad58cbfb7f5b4234d5f4798aa09ba934dc23edc397355655"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/fon/queries.afriqa.fon.fr.dev.json"):
        (126414, "e1590d65ebeed41c539486fd1b1af84deccd1909b7622dd554179f9646f8a7dd"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/fon/queries.afriqa.fon.fr.test.json"):
        (121664, "8029d503fe07fce1aabc49d0e985a8018c1972ab0abd27e9466d1c46d95d721b"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/fon/queries.afriqa.fon.fr.train.json"):
        (129658, "4a6807d268036cde48c37f9038f978f3e9bad2fbc085bddf2ce02b7c33cbe989"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/hau/queries.afriqa.hau.en.dev.json"):
        (120886, "200d9461b99123297bb585f9ea5f651ae00dbebfd6135d8b7a7d9bfe5730f579"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/hau/queries.afriqa.hau.en.test.json"):
        (86556, "34f89d0110bf5feea02ea956743e76d1e7ca6a0e552133fe75043e9de56d1728"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/hau/queries.afriqa.hau.en.train.json"):
        (120325, "0788dacfad5e295173cc3e1854d18675c9bac62713a4389560dc940a203d6972"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/ibo/queries.afriqa.ibo.en.dev.json"):
        (124724, "a3bb13f95ef0299e8357ecf38d89a3aaf4bd81b3364e9a6f34816afa469566d2"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/ibo/queries.afriqa.ibo.en.test.json"):
        (123326, "c02c61f932ea5e82fad2ad44e62eb4a20e7c9fb9f3d8e17ab7110583cbc008c6"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/ibo/queries.afriqa.ibo.en.train.json"):
        (125935, "38a5ecb173df3ac9d4b6ba5407c0cbfb47d0b0a25d4081055eea8b6e89f31c42"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/swa/queries.afriqa.swa.en.dev.json"):
        (115373, "cdc61a37956592318f98c8d6ca7cc3908bfbc5bf2cb30af4c13203c4f446a054"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/swa/queries.afriqa.swa.en.test.json"):
        (87689, "0804e99d130a7d9357139686db1957aff33e82ab4d8879c65839af35329d690a"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/swa/queries.afriqa.swa.en.train.json"):
        (114297, "d5d03c1bf62de83e1dcd951483717773c02b1c2d6fd7fdaaa750bcc7c0751776"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/twi/queries.afriqa.twi.en.dev.json"):
        (133857, "af5830d09eb506b53de9656d8ab25b609559b9bfdbd439ef509394dda2c11ca1"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/twi/queries.afriqa.twi.en.test.json"):
        (148593, "61e3afe84835edc93f4489cbaf27a6b948b41546807988021a85e9090814ed35"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/twi/queries.afriqa.twi.en.train.json"):
        (135336, "8400b59db710752b424df78159fbce4e469e87f74fdd14607426b10d231d0609"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/wol/queries.afriqa.wol.fr.dev.json"):
        (138731, "0a38ad7683ae5f21c03a2cd325d662d17f74f15f5278ebcfad9b7ffa881f07bf"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/wol/queries.afriqa.wol.fr.test.json"):
        (97009, "2522cbcc713f7fc6eb4cb526659764439dda6e99c9279db169c40185cf5eebb0"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/wol/queries.afriqa.wol.fr.train.json"):
        (139771, "9e91dbc2b780a0e613dfa34dce3cd5857916fd21ce600255082cdc58c08be80c"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/yor/queries.afriqa.yor.en.dev.json"):
        (106539, "c195aafb72f1c38046a52a4e9d3965bb6cb2383533e3b48d836846ffe8c89093"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/yor/queries.afriqa.yor.en.test.json"):
        (101216, "85027dcfd52e5783ac97acd2b35e5e56bc42a2c4baf8c4cb7b5e5de2c925bcde"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/yor/queries.afriqa.yor.en.train.json"):
        (108463, "e5005c216a0926c0f9f1ca6c34903ac8d52a21b8921bb87ce5f92d479968375f"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/zul/queries.afriqa.zul.en.dev.json"):
        (119274, "c851f25609ce8b4d4f507a556c09af93e603e079343c4ea613e66ec6bb530785"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/zul/queries.afriqa.zul.en.test.json"):
        (103828, "2fe78d9fe0838277b2bc355483871fe60a2847049ff6c164befb164fa177ea61"),
    ("masakhane-io/afriqa", "5c29933753692c28773c34ac1f68482007f1d2bb",
     "data/queries/zul/queries.afriqa.zul.en.train.json"):
        (118962, "fe52db65b67183543b6014a7b6bb7c7f7dd69b5bd2b5bd6fd1b3cdbc2e56da02"),
    ("chrischute/squad", "85623adeb9e6639f145081fea9cae2d8f3a26379",
     "data/dev-v2.0.json"):
        (2185577, "e67e5969b6dc6c1642154740806b79263b77fc048c7c11ee60d534eb48ef81e8"),
    ("chrischute/squad", "85623adeb9e6639f145081fea9cae2d8f3a26379",
     "LICENSE"):
        (1100, "08eca0403b2770e761df50df7819e749af8f5afcd139f319cc2db118fa02b34a"),
    ("emorynlp/selqa", "fef3d6ac6944e2d4237165d90e5f859c71676bdd",
     "ass/selqa-ass-dev.json"):
        (1470163, "b4e6687e44a30b486e24d2b06aa3012ec07d61145f3521f35b7d49daae3e0ca4"),
    ("emorynlp/selqa", "fef3d6ac6944e2d4237165d90e5f859c71676bdd",
     "ass/selqa-ass-test.json"):
        (2983123, "ca1184d94cc9030883723fab76ef8180b3cf5fb142549a5648d22f59fe7c6fc6"),
    ("emorynlp/selqa", "fef3d6ac6944e2d4237165d90e5f859c71676bdd",
     "README.md"):
        (1487, "e90fecd669efb7a141368ccde53ee2d467db2577e407d1b376673e8f12aa7d30"),
    ("castorini/data", "056cbbcbf997cc0b35032430110c5e5e5525700a",
     "WikiQA/train/a.toks"):
        (294437, "1cb4f6b9ad69e70d7ffabb02e1d4f75f67d4d9f6fa63db2db28599958eb6ad05"),
    ("castorini/data", "056cbbcbf997cc0b35032430110c5e5e5525700a",
     "WikiQA/train/b.toks"):
        (1166688, "c20564c144cd32bc13ea5de43ff2f550b78b3937b07bae8a98a82cab777777eb"),
    ("castorini/data", "056cbbcbf997cc0b35032430110c5e5e5525700a",
     "WikiQA/train/sim.txt"):
        (17344, "85ad83b8e3643ed7e5f9707ba628bafed6991f883e0283111282ba199ea9f908"),
    ("castorini/data", "056cbbcbf997cc0b35032430110c5e5e5525700a",
     "WikiQA/train/id.txt"):
        (38759, "201afeca76d29289e970a495936bc20a714c7df21186328c21e08262c1030216"),
    ("castorini/rank_llm", "d11fb9ce6a4766cbb16bd44c2ed7f5a78d67cba7",
     "retrieve_results/BM25/retrieve_results_dl21.json"):
        (2516810, "bf83fd30e8e370b5e222acba8a2fdb7301a44ff1a436a2576aec1a61816c166e"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "qrels/qrels.dl21-passage.txt"):
        (433887, "15d1c6e8b13fd665dd043c43213e331452213ddc70f70b8522600bcce64db427"),
    ("castorini/anserini-tools", "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
     "topics/topics.dl21.txt"):
        (24585, "d7c24b788f01cb9ee9f1ec663dfc623594a94c6c878cd8b7fb040a35d634921a"),
    ("google-research-datasets/natural-questions", "fb26a3073b1fe636c97302890a27b491d6530130",
     "nq_open/NQ-open.dev.jsonl"):
        (391316, "f15567f38099f3615f5b8a685c0aef449c11ad90d3da3735e8d1b98115b40616"),
    ("google-research-datasets/natural-questions", "fb26a3073b1fe636c97302890a27b491d6530130",
     "nq_open/README.md"):
        (5712, "8b675521da3fa142ac6bda38c9bcfcc8cff0e2d6128be53a062ed55fb53f7b87"),
    ("google-research-datasets/natural-questions", "fb26a3073b1fe636c97302890a27b491d6530130",
     "LICENSE"):
        (11358, "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"),
}
