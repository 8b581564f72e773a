"""Rows of titled image panels drawn with PIL, for figures without matplotlib."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

TITLE_HEIGHT = 28  # two lines of the default font
MARGIN = 6
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)


def panel_row(panels, scale=1):
    """One RGB image of (title, (H, W, 3) uint8) panels side by side, each titled above
    (titles may hold one line break).

    `scale` enlarges small panels with nearest neighbour so class
    boundaries stay crisp.
    """
    if not panels:
        raise ValueError("a figure needs at least one panel")
    images = [Image.fromarray(np.asarray(image, np.uint8)) for _, image in panels]
    if scale != 1:
        images = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in images]
    font = ImageFont.load_default()
    width = sum(im.width for im in images) + MARGIN * (len(images) + 1)
    height = max(im.height for im in images) + TITLE_HEIGHT + 2 * MARGIN
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = MARGIN
    for (title, _), im in zip(panels, images):
        draw.multiline_text((x, MARGIN // 2), title, fill=TEXT, font=font)
        canvas.paste(im, (x, MARGIN + TITLE_HEIGHT))
        x += im.width + MARGIN
    return canvas
