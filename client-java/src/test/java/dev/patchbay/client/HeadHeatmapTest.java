package dev.patchbay.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the heatmap draws, read back from its pixels, on rows with known signs: magnitudes in grey with each
 * verified head's sign in red or blue, signed estimates on the diverging scale, the grid centred in the picture.
 */
class HeadHeatmapTest {
    private static final int CELL = 56;
    private static final int TOP = 60;

    /** Two layers of two heads; L0H0 verified to lower the metric, L1H1 to raise it. */
    private static List<AttributionResults.Row> rows(double[][] values) {
        List<AttributionResults.Row> rows = new ArrayList<>();
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < 2; h++) {
                double effect = l == 0 && h == 0 ? -2.0 : l == 1 && h == 1 ? 1.5 : Double.NaN;
                rows.add(new AttributionResults.Row("L" + l + "H" + h, "z", l, h, -1, values[l][h], effect));
            }
        }
        return rows;
    }

    private static int left(BufferedImage image) {
        return (image.getWidth() - 2 * CELL) / 2;
    }

    /** The cell's colour a few pixels inside its corner, where no text is drawn. */
    private static Color fill(BufferedImage image, int layer, int head) {
        return new Color(image.getRGB(left(image) + head * CELL + 3, TOP + layer * CELL + 3));
    }

    private static boolean cellHas(BufferedImage image, int layer, int head, Color colour) {
        for (int x = 0; x < CELL; x++) {
            for (int y = 0; y < CELL; y++) {
                if (image.getRGB(left(image) + head * CELL + x, TOP + layer * CELL + y) == colour.getRGB()) {
                    return true;
                }
            }
        }
        return false;
    }

    @Test
    void magnitudesAreGreyWithTheVerifiedSignsInRedAndBlue() {
        BufferedImage image = HeadHeatmap.draw(rows(new double[][] {{3, 1}, {0.5, 2}}), true, "AtP*");
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < 2; h++) {
                Color c = fill(image, l, h);
                assertTrue(c.getRed() == c.getGreen() && c.getGreen() == c.getBlue(), "grey at L" + l + "H" + h);
            }
        }
        assertEquals(0, fill(image, 0, 0).getRed(), "the largest score is black");
        assertTrue(cellHas(image, 0, 0, HeadHeatmap.LOWERS) && !cellHas(image, 0, 0, HeadHeatmap.RAISES));
        assertTrue(cellHas(image, 1, 1, HeadHeatmap.RAISES) && !cellHas(image, 1, 1, HeadHeatmap.LOWERS));
        assertTrue(!cellHas(image, 0, 1, HeadHeatmap.RAISES) && !cellHas(image, 0, 1, HeadHeatmap.LOWERS));
        // Centred: as much white to the left of the grid as to its right (to a pixel of rounding).
        int rightEdge = left(image) + 2 * CELL;
        assertTrue(Math.abs(left(image) - (image.getWidth() - rightEdge)) <= 1);
    }

    @Test
    void signedEstimatesAreRedAboveAndBlueBelowZero() {
        BufferedImage image = HeadHeatmap.draw(rows(new double[][] {{-3, 1}, {0, 2}}), false, "AtP");
        Color negative = fill(image, 0, 0);
        Color positive = fill(image, 1, 1);
        assertTrue(negative.getBlue() == 255 && negative.getRed() < 10, negative.toString());
        assertTrue(positive.getRed() == 255 && positive.getBlue() < 255, positive.toString());
        assertEquals(Color.WHITE, fill(image, 1, 0));
    }
}
