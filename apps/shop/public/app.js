// The shop page: plain DOM rendering driven by server-side state over the ReflexBridge client.
import { ReflexClient } from '/vendor/reflex-client/index.js';

const ROOT = 'reflex___state____state';
const FILTER = `${ROOT}.filter_state`;
const CART = `${ROOT}.cart_state`;
const ACCOUNT = `${ROOT}.account_state`;
const LIKES = `${ROOT}.likes_state`;
const STAFF = `${ROOT}.staff_state`;

const $ = (id) => document.getElementById(id);
const money = (cents) => (cents / 100).toFixed(2);
// Whether the signed-in user is staff (from the auth snapshot): staff get a picture input on each product.
let isStaff = false;
let lastFilter = {};

/**
 * Uploads the file chosen in `input` to an upload handler, showing its progress in `bar`; a refusal (not an
 * image, too large, logged out) is shown under the cart.
 */
async function uploadChosen(input, bar, state, handler, extraArgs) {
  const file = input.files?.[0];
  if (!file) return;
  $('upload-error').textContent = '';
  bar.hidden = false;
  bar.value = 0;
  try {
    await client.upload(state, handler, [file], { extraArgs, onProgress: ({ progress }) => (bar.value = progress ?? 0) });
  } catch (error) {
    $('upload-error').textContent = error.detail || error.message;
  } finally {
    bar.hidden = true;
    input.value = '';
  }
}

// The vars the server keeps in the browser (FilterState's @LocalStorage category), in the shape of a Reflex
// frontend's compiled client storage map: the client sends their values when the page loads and writes them back
// when they change, under the keys Reflex's own client uses.
const clientStorage = { local_storage: { [`${FILTER}.category_rx_state_`]: { sync: true } } };

const client = new ReflexClient({ url: window.location.origin, clientStorage });

function renderProducts(filter) {
  lastFilter = filter;
  const list = $('products');
  list.replaceChildren(
    ...(filter.visible ?? []).map((product) => {
      const item = document.createElement('li');
      item.dataset.productId = String(product.id);
      const name = document.createElement('div');
      name.textContent = product.name;
      const price = document.createElement('div');
      price.className = 'price';
      price.textContent = money(product.price);
      const add = document.createElement('button');
      add.textContent = 'Add to cart';
      add.addEventListener('click', () => client.call(CART, 'add', { productId: product.id }));
      item.append(name, price, add);
      if (product.image) {
        const picture = document.createElement('img');
        picture.src = product.image;
        picture.alt = product.name;
        picture.className = 'product-image';
        item.prepend(picture);
      }
      if (isStaff) {
        const label = document.createElement('label');
        label.textContent = 'Picture ';
        const input = document.createElement('input');
        input.type = 'file';
        input.accept = 'image/png,image/jpeg,image/gif,image/webp';
        const bar = document.createElement('progress');
        bar.max = 1;
        bar.hidden = true;
        input.addEventListener('change', () => uploadChosen(input, bar, STAFF, 'attachImage', { productId: product.id }));
        label.append(input);
        item.append(label, bar);
      }
      return item;
    }),
  );
  const select = $('category');
  select.replaceChildren(new Option('All categories', ''), ...(filter.categories ?? []).map((c) => new Option(c, c)));
  // The server's category (kept in localStorage, so a new tab opens on the last one chosen).
  select.value = filter.category ?? '';
}

function renderCart(cart) {
  // A cart update means the last cart action went through: any earlier refusal no longer applies.
  $('cart-error').textContent = '';
  $('cart-count').textContent = String(cart.count ?? 0);
  $('cart-total').textContent = money(cart.total ?? 0);
  $('cart-lines').replaceChildren(
    ...(cart.lines ?? []).map((line) => {
      const item = document.createElement('li');
      item.textContent = `${line.quantity} × ${line.name} `;
      const remove = document.createElement('button');
      remove.textContent = '✕';
      remove.addEventListener('click', () => client.call(CART, 'remove', { productId: line.productId }));
      item.append(remove);
      return item;
    }),
  );
}

function renderAccount(account) {
  $('status').textContent = account.isAuthenticated ? `Signed in as ${account.username}` : 'Not signed in';
  $('login-form').hidden = Boolean(account.isAuthenticated);
  $('logout').hidden = !account.isAuthenticated;
  $('login-error').textContent = account.loginError ?? '';
  $('avatar-box').hidden = !account.isAuthenticated;
  const avatar = $('avatar');
  avatar.hidden = !account.isAuthenticated || !account.avatarUrl;
  if (account.avatarUrl && avatar.getAttribute('src') !== account.avatarUrl) avatar.src = account.avatarUrl;
  const staff = Boolean(account.isAuthenticated && account.isStaff);
  if (staff !== isStaff) {
    isStaff = staff;
    renderProducts(lastFilter);
  }
}

client.subscribe(FILTER, renderProducts);
client.subscribe(CART, renderCart);
client.subscribe(ACCOUNT, renderAccount);
client.subscribe(LIKES, (likes) => {
  $('likes').textContent = String(likes.count ?? 0);
});
$('like').addEventListener('click', () => client.call(LIKES, 'like'));
client.onError((error) => {
  $('cart-error').textContent = error.event?.startsWith(CART) ? error.message : '';
  // Too many login attempts from this address: the server refused this one without checking it.
  if (error.code === 'rate_limited' && error.event === `${ACCOUNT}.login`) $('login-error').textContent = error.message;
});

$('query').addEventListener('input', (event) => client.call(FILTER, 'setQuery', { value: event.target.value }));
$('category').addEventListener('change', (event) => client.call(FILTER, 'setCategory', { value: event.target.value }));
$('avatar-file').addEventListener('change', () => uploadChosen($('avatar-file'), $('avatar-progress'), ACCOUNT, 'uploadAvatar'));
$('cart-clear').addEventListener('click', () => client.call(CART, 'clear'));
$('logout').addEventListener('click', () => client.call(ACCOUNT, 'logout'));
$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  client.call(ACCOUNT, 'login', { username: form.get('username'), password: form.get('password') });
});

// The catalogue loads itself: FilterState.load is the on-load handler of this page ('/').
await client.connect();
// Keep the product list live: price changes and new products arrive without reloading.
client.call(FILTER, 'live_subscribe');
// The auth snapshot is refreshed by any bridged event; ask once so the header is right after a reload.
client.call(ACCOUNT, 'refresh');
