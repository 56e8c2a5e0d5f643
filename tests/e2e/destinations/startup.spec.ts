// An unreadable stored-destinations file never keeps Ferry from starting: it uploads to
// its local folder and says, in a message that stays until dismissed, which file is
// wrong, what is wrong with it and where uploads go meanwhile.
import { $, expect } from '@wdio/globals';
import { saveScreenshot, waitForConnection } from '../../helpers/app.js';

describe('starting with an unreadable destinations file', () => {
  it('uploads to the local folder and says why', async () => {
    await waitForConnection();
    await expect($('[data-testid="destination"]')).toHaveText(`Uploads go to ${process.env.FERRY_DESTINATION_DIR}`);
    const toast = $('[data-testid="toast"]');
    await toast.waitForExist({ timeout: 10_000 });
    await expect(toast).toHaveText(expect.stringContaining('Not uploading to the default destination'));
    const file = `${process.env.FERRY_CONFIG_DIR}/destinations.json`;
    await expect(toast).toHaveText(expect.stringContaining(`${file}: is not valid JSON`));
    await expect(toast).toHaveText(expect.stringContaining(`Uploads go to the local folder (${process.env.FERRY_DESTINATION_DIR})`));
    await saveScreenshot('destinations-unreadable');
  });
});
