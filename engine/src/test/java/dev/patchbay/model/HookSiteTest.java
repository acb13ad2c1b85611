package dev.patchbay.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** A site's layer, units and width, read once from its name, on a grouped-query model (4 heads, 2 key/value heads). */
class HookSiteTest {
    private static final ModelConfig GQA = ModelConfig.builder(Architecture.LLAMA)
            .nLayers(2)
            .nHeads(4)
            .nKvHeads(2)
            .dModel(16)
            .dHead(4)
            .dMlp(32)
            .vocabSize(50)
            .maxPositions(64)
            .normEps(1e-5)
            .activation("silu")
            .rotaryDim(4)
            .ropeTheta(10000)
            .attnScale(0.5)
            .normalization(ModelConfig.Normalization.RMS_NORM)
            .build();

    @Test
    void unitsAndWidthsFollowTheLayout() {
        HookSite z = HookSite.of("blocks.1.attn.hook_z");
        assertEquals(1, z.layer());
        assertEquals("hook_z", z.leaf());
        assertEquals(4, z.units(GQA));
        assertEquals(4, z.width(GQA));
        HookSite k = HookSite.of("blocks.0.attn.hook_k");
        assertTrue(k.keyValueHeads());
        assertEquals(2, k.units(GQA));
        HookSite rotK = HookSite.of("blocks.0.attn.hook_rot_k");
        assertEquals(2, rotK.units(GQA));
        HookSite qInput = HookSite.of("blocks.1.hook_q_input");
        assertTrue(qInput.splitInput());
        assertEquals(4, qInput.units(GQA));
        assertEquals(16, qInput.width(GQA), "a split input holds each head's copy of the stream");
        HookSite post = HookSite.of("blocks.0.mlp.hook_post");
        assertEquals(32, post.units(GQA));
        assertEquals(32, post.width(GQA));
        HookSite resid = HookSite.of("blocks.1.hook_resid_pre");
        assertEquals(0, resid.units(GQA));
        assertEquals(16, resid.width(GQA));
        assertEquals(-1, HookSite.of("blocks.0.attn.hook_pattern").width(GQA));
        HookSite embed = HookSite.of("hook_embed");
        assertEquals(-1, embed.layer());
        assertFalse(embed.splitInput());
        assertEquals(16, embed.width(GQA));
    }

    @Test
    void everySiteOfAModelParses() {
        for (String site : HookSites.all(GQA)) {
            HookSite s = HookSite.of(site);
            assertEquals(site, s.name());
            assertEquals(HookSites.layoutOf(site), s.layout());
            assertTrue(s.layer() < GQA.nLayers(), site);
        }
    }
}
